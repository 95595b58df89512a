import { type Engine, EngineError, type LogItem, LogOffset } from '@shapestore/engine'

/**
 * The soak's workload, all at once on one engine: appenders (single-shape transactions and
 * fan-outs of one items array to several shapes, the shared-record path), readers (the live tail
 * inline; snapshot chunks and closed log chunks big enough for the reader pool), live waiters
 * (waitForOffset with timeouts and aborts), and shape churn (removal of the oldest shape, creation
 * of a new one with a snapshot; hibernations), so that per-shape state is created and dropped all
 * the time and a leak of it would show. The store stays about the same size: churn deletes what
 * the appends add.
 */
export interface SoakLoadOptions {
  readonly shapes: number
  readonly appenders: number
  readonly readers: number
  readonly waiters: number
  /** One shape removed and one created this often. */
  readonly churnMs: number
  /** Bytes of each new shape's snapshot (above chunkBytesThreshold: several chunks, pooled reads). */
  readonly snapshotBytes: number
  /**
   * Source items appended per second, at most (a fan-out's items count once). A fixed rate keeps the store and every per-shape state
   * the same size all run long (churn deletes what the appends add), so a memory trend means a
   * leak, not a machine that got faster or slower (other processes share the cores).
   */
  readonly itemsPerSecond: number
}

export interface SoakCounters {
  appends: number
  fanouts: number
  items: number
  tailReads: number
  bigReads: number
  waitsMoved: number
  waitsTimedOut: number
  waitsAborted: number
  created: number
  removed: number
  hibernated: number
  /** Errors a racing removal explains (UNKNOWN_HANDLE, SHAPE_REMOVED on a shape being removed). */
  removalRaces: number
}

interface LiveShape {
  readonly handle: string
  readonly no: number
  removing: boolean
  /** Offsets of recent appends: where tail reads start. */
  readonly recent: string[]
}

const REMOVAL_CODES: ReadonlySet<string> = new Set(['UNKNOWN_HANDLE', 'SHAPE_REMOVED'])

export class SoakLoad {
  readonly counters: SoakCounters = {
    appends: 0,
    fanouts: 0,
    items: 0,
    tailReads: 0,
    bigReads: 0,
    waitsMoved: 0,
    waitsTimedOut: 0,
    waitsAborted: 0,
    created: 0,
    removed: 0,
    hibernated: 0,
    removalRaces: 0,
  }
  /** Anything else that failed: the soak fails on it. */
  readonly unexpected: unknown[] = []
  readonly #engine: Engine
  readonly #options: SoakLoadOptions
  readonly #live: LiveShape[] = []
  #lsn = 1
  /** When the next items may be sent (the rate limit). */
  #nextSendMs = 0
  #shapeNo = 0
  #stopping = false
  #loops: Promise<void>[] = []

  constructor(engine: Engine, options: SoakLoadOptions) {
    this.#engine = engine
    this.#options = options
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.#options.shapes; i++) await this.#createShape()
    const o = this.#options
    this.#loops = [
      ...Array.from({ length: o.appenders }, () => this.#loop(() => this.#append())),
      ...Array.from({ length: o.readers }, () => this.#loop(() => this.#read())),
      ...Array.from({ length: o.waiters }, () => this.#loop(() => this.#wait())),
      this.#loop(() => this.#churn()),
    ]
  }

  /** Stops every loop after its current operation and waits for them. */
  async stop(): Promise<void> {
    this.#stopping = true
    await Promise.all(this.#loops)
  }

  get liveShapes(): number {
    return this.#live.length
  }

  async #loop(step: () => Promise<void>): Promise<void> {
    while (!this.#stopping) {
      // Each step starts from the event loop, as a server's requests do: reads answered from the
      // key table and inline reads resolve in microtasks only, and would starve timers and I/O.
      await new Promise((resolve) => setImmediate(resolve))
      try {
        await step()
      } catch (error) {
        this.unexpected.push(error)
        if (this.unexpected.length > 100) this.#stopping = true
      }
    }
  }

  #pick(): LiveShape | undefined {
    const candidates = this.#live.filter((s) => !s.removing)
    return candidates[Math.floor(Math.random() * candidates.length)]
  }

  /** Runs `op` on `shape`; an error its removal explains is counted, anything else rethrown. */
  async #onShape<T>(shape: LiveShape, op: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await op()
    } catch (error) {
      if (
        error instanceof EngineError &&
        REMOVAL_CODES.has(error.code) &&
        (shape.removing || !this.#live.includes(shape))
      ) {
        this.counters.removalRaces++
        return undefined
      }
      throw error
    }
  }

  #items(count: number): LogItem[] {
    const tx = this.#lsn++
    return Array.from({ length: count }, (_, op) => ({
      offset: `${tx}_${op}`,
      key: `"public"."items"/"${tx}-${op}"`,
      op: op % 3 === 0 ? 'insert' : op % 3 === 1 ? 'update' : 'delete',
      json: JSON.stringify({ key: `${tx}-${op}`, value: { id: tx, op, pad: 'v'.repeat(150 + (op % 7) * 40) } }),
    }))
  }

  async #append(): Promise<void> {
    const items = this.#items(1 + Math.floor(Math.random() * 12))
    await this.#pace(items.length)
    if (Math.random() < 0.2) {
      // One source transaction into several shapes: the same array (stored once per partition from 4 shapes on).
      const targets = new Set<LiveShape>()
      for (let i = 0; i < 8; i++) {
        const s = this.#pick()
        if (s !== undefined) targets.add(s)
      }
      const shapes = [...targets]
      const done = await this.#onShapes(shapes, () =>
        this.#engine.appendToLogs(shapes.map((s) => ({ handle: s.handle, items }))),
      )
      if (done) {
        this.counters.fanouts++
        this.counters.items += items.length * shapes.length
        for (const s of shapes) remember(s, items)
      }
      return
    }
    const shape = this.#pick()
    if (shape === undefined) return
    if (!(await this.#onShapes([shape], () => this.#engine.appendToLog(shape.handle, items)))) return
    this.counters.appends++
    this.counters.items += items.length
    remember(shape, items)
  }

  /** Waits for this many items' share of the rate; a stall leaves at most one second of backlog. */
  async #pace(count: number): Promise<void> {
    const now = Date.now()
    this.#nextSendMs = Math.max(this.#nextSendMs, now - 1000) + (count * 1000) / this.#options.itemsPerSecond
    if (this.#nextSendMs > now) await sleep(this.#nextSendMs - now)
  }

  async #onShapes(shapes: LiveShape[], op: () => Promise<void>): Promise<boolean> {
    try {
      await op()
      return true
    } catch (error) {
      if (
        error instanceof EngineError &&
        REMOVAL_CODES.has(error.code) &&
        shapes.some((s) => s.removing || !this.#live.includes(s))
      ) {
        this.counters.removalRaces++
        return false
      }
      throw error
    }
  }

  async #read(): Promise<void> {
    const shape = this.#pick()
    if (shape === undefined) return
    const engine = this.#engine
    const roll = Math.random()
    // Paced: a soak is sustained load, not a saturation test (and the reader pool would take every core).
    await sleep(2)
    if (roll < 0.1) {
      // A snapshot chunk or the first closed log chunk: big enough for the reader pool.
      const closed = await this.#onShape(shape, () => engine.getChunkEndLogOffset(shape.handle, '0_inf'))
      const range: [string, string] = closed != null && roll < 0.05 ? ['0_inf', closed.toString()] : ['-1', '0_0']
      const json = await this.#onShape(shape, () => engine.getLogJson(shape.handle, ...range))
      if (json !== undefined) this.counters.bigReads++
      return
    }
    // The live tail: from a recent offset, as a stream or as one JSON array.
    const since = shape.recent[Math.floor(Math.random() * shape.recent.length)] ?? '0_inf'
    await this.#onShape(shape, async () => {
      engine.fetchLatestOffset(shape.handle)
      engine.fetchPgSnapshot(shape.handle)
      if (roll < 0.6) {
        for await (const _row of engine.getLogStream(shape.handle, since)) {
          // drain
        }
      } else {
        await engine.getLogJson(shape.handle, since)
      }
    })
    this.counters.tailReads++
  }

  async #wait(): Promise<void> {
    const shape = this.#pick()
    if (shape === undefined) {
      await sleep(10)
      return
    }
    const latest = this.#engine.fetchLatestOffset(shape.handle)
    const abort = Math.random() < 0.1 ? new AbortController() : undefined
    const timer = abort === undefined ? undefined : setTimeout(() => abort.abort(), Math.random() * 500)
    try {
      const moved = await this.#engine.waitForOffset(shape.handle, latest, {
        timeoutMs: 200 + Math.floor(Math.random() * 1800),
        signal: abort?.signal,
      })
      if (moved) this.counters.waitsMoved++
      else this.counters.waitsTimedOut++
    } catch (error) {
      if (error instanceof EngineError && error.code === 'ABORTED') this.counters.waitsAborted++
      else if (error instanceof EngineError && REMOVAL_CODES.has(error.code)) this.counters.removalRaces++
      else throw error
    } finally {
      clearTimeout(timer)
    }
  }

  async #churn(): Promise<void> {
    await sleep(this.#options.churnMs)
    if (this.#stopping) return
    const oldest = this.#live.find((s) => !s.removing)
    if (oldest !== undefined) {
      oldest.removing = true
      await this.#engine.removeShape(oldest.handle)
      this.#live.splice(this.#live.indexOf(oldest), 1)
      this.counters.removed++
    }
    await this.#createShape()
    const sleeper = this.#pick()
    if (sleeper !== undefined && Math.random() < 0.3) {
      await this.#onShape(sleeper, () => this.#engine.hibernate(sleeper.handle))
      this.counters.hibernated++
    }
  }

  async #createShape(): Promise<void> {
    const no = this.#shapeNo++
    const { handle } = await this.#engine.getOrCreateShape({ table: 'items', where: `soak = ${no}` })
    await this.#engine.setPgSnapshot(handle, { xmin: 100, xmax: 110, xipList: [101, 105], filterTxns: true })
    const rowPad = 'r'.repeat(400)
    const rows = Math.ceil(this.#options.snapshotBytes / 430)
    await this.#engine.makeNewSnapshot(
      handle,
      Array.from({ length: rows }, (_, i) => JSON.stringify({ key: `${no}-${i}`, value: { i, pad: rowPad } })),
    )
    this.#live.push({ handle, no, removing: false, recent: [] })
    this.counters.created++
  }
}

/** Keeps the last few offsets appended to a shape (where tail reads start). */
function remember(shape: LiveShape, items: readonly LogItem[]): void {
  const first = items[0]
  if (first === undefined) return
  // Start just before this transaction: the read returns it and what followed.
  const at = LogOffset.from(first.offset)
  shape.recent.push(at.tx > 1 ? LogOffset.of(at.tx - 1, 0).toString() : '0_inf')
  if (shape.recent.length > 8) shape.recent.shift()
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
