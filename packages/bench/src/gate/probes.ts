// The gate's probes: one hot path each, measured in a few seconds in a fresh process against
// the engine of any checkout (engine-lib.ts loads it), so the same measuring code times the base
// and the head of an A/B. A probe returns timed figures (noisy: judged with paired statistics
// over many processes) and exact counters (not noisy: any change fails).
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { getHeapStatistics } from 'node:v8'
import { Worker } from 'node:worker_threads'
import type { Engine, LogItem } from '@shapestore/engine'
import { ROW_BYTES, ROWS_PER_TRANSACTION, rowJson, rowPool, transactionItems } from '../rows.ts'
import { median, prng } from '../stats.ts'
import type { EngineLib } from './engine-lib.ts'

/** A timed figure of one probe process. */
export interface Timed {
  readonly value: number
  readonly unit: string
  readonly better: 'lower' | 'higher'
}

export interface ProbeResult {
  readonly timed: Record<string, Timed>
  /** Exact counts: the same code gives the same number on any machine, at any load. */
  readonly counters: Record<string, number>
}

export interface ProbeContext {
  readonly lib: EngineLib
  /** The seeded store the read probes open (seed()); read only. */
  readonly seedDir: string
  /** A directory the write probes may empty and fill. */
  readonly scratchDir: string
}

type Probe = (context: ProbeContext) => Promise<ProbeResult>

/** Shapes in the seeded store the read probes open: a store of some size, seeded in ~3 s. */
export const SEED_SHAPES = 20_000
const SEED_CONCURRENCY = 1_000

/**
 * Seeds an empty `dir` with SEED_SHAPES shapes (a 1-row snapshot and one 2-row transaction
 * each) and writes their handles beside them. Each side of an A/B seeds with its own engine, so
 * a change of the on-disk format is measured as that side stores it.
 */
export async function seed(lib: EngineLib, dir: string): Promise<void> {
  const engine = await lib.openEngine({ dir, runtime: lib.inlineRuntime() })
  const handles: string[] = []
  try {
    for (let start = 0; start < SEED_SHAPES; start += SEED_CONCURRENCY) {
      const batch = Array.from({ length: SEED_CONCURRENCY }, async (_, j) => {
        const i = start + j
        const { handle } = await engine.getOrCreateShape({ table: 'items', where: `shape = ${i}` })
        await engine.makeNewSnapshot(handle, [rowJson(`s${i}`)])
        await engine.appendToLog(handle, [
          { offset: '100_0', key: `k${i}a`, op: 'insert', json: rowJson(`a${i}`) },
          { offset: '100_1', key: `k${i}b`, op: 'insert', json: rowJson(`b${i}`) },
        ])
        return handle
      })
      handles.push(...(await Promise.all(batch)))
    }
  } finally {
    await engine.close()
  }
  writeFileSync(join(dir, 'gate-seed.json'), JSON.stringify({ handles }))
}

function seededHandles(dir: string): string[] {
  return (JSON.parse(readFileSync(join(dir, 'gate-seed.json'), 'utf8')) as { handles: string[] }).handles
}

const ns = (start: bigint) => Number(process.hrtime.bigint() - start)
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

// ---- the read path ----

/**
 * Lookups go to a fixed set of this many shapes: small enough to stay in the CPU caches, so the
 * figure is the code path's cost and not the luck of a process's memory placement (over all
 * 20,000 shapes the same code measured 160-380 ns from one process to the next).
 */
const HOT_SHAPES = 1_024
const HIT_BATCH = 10_000
const HIT_BATCHES = 120
const HEAP_CHUNKS = 41

/**
 * The latest-offset hit: every shape read once (a miss fills the table), then batches of
 * random lookups. Figure: the median batch's ns per lookup. Counter: heap bytes allocated per
 * lookup, the median over chunks of the used-heap growth (a chunk with a GC in it shrinks and
 * the median ignores it), rounded: 0 when a hit allocates nothing.
 */
async function hit(context: ProbeContext, runtime: 'inline' | 'shared'): Promise<ProbeResult> {
  const { lib } = context
  const handles = seededHandles(context.seedDir)
  const engine = await lib.openEngine({
    dir: context.seedDir,
    runtime: runtime === 'inline' ? lib.inlineRuntime() : lib.workerRuntime({ writers: 2 }),
  })
  try {
    for (const handle of handles) engine.fetchLatestOffset(handle)
    const random = prng(42)
    const hot = handles.slice(0, HOT_SHAPES)
    const order = Array.from({ length: 1 << 16 }, () => hot[Math.floor(random() * hot.length)] as string)
    let cursor = 0
    let sink = 0
    const lookups = (count: number) => {
      for (let i = 0; i < count; i++) {
        sink ^= engine.fetchLatestOffset(order[cursor] as string).tx
        cursor = (cursor + 1) & 0xffff
      }
    }
    lookups(HIT_BATCH * 10) // warm-up: the JIT settles on the hit path
    const perLookup: number[] = []
    for (let b = 0; b < HIT_BATCHES; b++) {
      const start = process.hrtime.bigint()
      lookups(HIT_BATCH)
      perLookup.push(ns(start) / HIT_BATCH)
    }
    const growth: number[] = []
    for (let c = 0; c < HEAP_CHUNKS; c++) {
      const before = getHeapStatistics().used_heap_size
      lookups(HIT_BATCH)
      growth.push(getHeapStatistics().used_heap_size - before)
    }
    if (sink === 0.5) console.error(sink) // keeps the loop observable
    return {
      timed: { [`hit_${runtime}_ns`]: { value: median(perLookup), unit: 'ns', better: 'lower' } },
      counters: { [`hit_${runtime}_heap_bytes_per_lookup`]: Math.round(median(growth) / HIT_BATCH) },
    }
  } finally {
    await engine.close()
  }
}

const MISSES = 4_000
const OPENS = 15

/**
 * A restore of the seeded store: open -> ready on the inline runtime (the median of OPENS opens
 * after one untimed; a single open per process varied 27-42 % between processes, and the worker
 * runtime's table allocation adds its own noise), then, on the worker runtime, the first read of
 * MISSES random shapes, each a miss, timed one by one (a miss inserts into the shared table).
 * Counters: what open reads (nothing per shape), and what one miss reads.
 */
async function restore(context: ProbeContext): Promise<ProbeResult> {
  const { lib } = context
  const handles = seededHandles(context.seedDir)
  const open = () => lib.openEngine({ dir: context.seedDir, runtime: lib.inlineRuntime() })
  await (await open()).close()
  const openTimes: number[] = []
  for (let i = 0; i < OPENS; i++) {
    const start = process.hrtime.bigint()
    const engine = await open()
    openTimes.push(ns(start) / 1e6)
    await engine.close()
  }
  const engine = await lib.openEngine({ dir: context.seedDir, runtime: lib.workerRuntime({ writers: 2 }) })
  try {
    const atOpen = engine.stats()
    const random = prng(7)
    const picked = new Set<string>()
    while (picked.size < MISSES) picked.add(handles[Math.floor(random() * handles.length)] as string)
    const times: number[] = []
    let sink = 0
    for (const handle of picked) {
      const start = process.hrtime.bigint()
      sink ^= engine.fetchLatestOffset(handle).tx
      times.push(ns(start))
    }
    if (sink === 0.5) console.error(sink)
    const after = engine.stats()
    const counters: Record<string, number> = {
      open_catalog_records_read: atOpen.catalogRecordsRead,
      open_read_path_misses: atOpen.readPathMisses,
      open_partitions_opened: atOpen.partitionsOpen,
      miss_catalog_records_read: (after.catalogRecordsRead - atOpen.catalogRecordsRead) / MISSES,
      misses_per_first_read: (after.readPathMisses - atOpen.readPathMisses) / MISSES,
    }
    // Counted since the engine has it; a base without it simply lacks the counter.
    const metaRead = (s: object) => (s as { metaRecordsRead?: number }).metaRecordsRead
    const metaAtOpen = metaRead(atOpen)
    const metaAfter = metaRead(after)
    if (metaAtOpen !== undefined && metaAfter !== undefined) {
      counters.open_meta_records_read = metaAtOpen
      counters.miss_meta_records_read = (metaAfter - metaAtOpen) / MISSES
    }
    return {
      timed: {
        open_ms: { value: median(openTimes), unit: 'ms', better: 'lower' },
        miss_us: { value: median(times) / 1e3, unit: 'µs', better: 'lower' },
      },
      counters,
    }
  } finally {
    await engine.close()
  }
}

// ---- writes ----

type OpenOptions = Parameters<EngineLib['openEngine']>[0]

/** Runs `use` on an engine opened on the emptied scratch directory, and closes it. */
async function withScratchEngine<T>(
  context: ProbeContext,
  options: Omit<OpenOptions, 'dir'>,
  use: (engine: Engine) => Promise<T>,
): Promise<T> {
  rmSync(context.scratchDir, { recursive: true, force: true })
  const engine = await context.lib.openEngine({ ...options, dir: context.scratchDir })
  try {
    return await use(engine)
  } finally {
    await engine.close()
  }
}

/** `count` new shapes, created concurrently (their catalog writes share commits). */
async function createShapes(engine: Engine, count: number): Promise<string[]> {
  const created = await Promise.all(
    Array.from({ length: count }, (_, i) => engine.getOrCreateShape({ table: 'items', where: `s = ${i}` })),
  )
  return created.map((c) => c.handle)
}

const APPEND_SHAPES = 1_000
const APPEND_WINDOW = 400
const APPEND_WARMUP_MS = 400
const APPEND_ROUND_MS = 400
const APPEND_ROUNDS = 5

/**
 * Append throughput: 50-row transactions of 200-byte rows to random shapes of 1,000 over 8
 * partitions, APPEND_WINDOW in flight (each completion issues the next). Figure: the median
 * round's entries/s, and the CPU time of the whole process per entry. Counters: the log
 * record's bytes beyond the rows' JSON (the record layout), and on the worker runtime the thread
 * messages per awaited append (one out, one back per commit).
 */
async function append(context: ProbeContext, runtime: 'inline' | 'workers'): Promise<ProbeResult> {
  const { lib } = context
  return withScratchEngine(
    context,
    { partitions: 8, runtime: runtime === 'inline' ? lib.inlineRuntime() : lib.workerRuntime({ writers: 2 }) },
    async (engine) => {
      const handles = await createShapes(engine, APPEND_SHAPES)
      const pool = rowPool(4_096)
      const random = prng(3)
      let tx = 1
      let entries = 0
      const drive = async (ms: number): Promise<number> => {
        const before = entries
        const start = performance.now()
        const worker = async () => {
          while (performance.now() - start < ms) {
            const handle = handles[Math.floor(random() * handles.length)] as string
            await engine.appendToLog(handle, transactionItems(tx++, pool))
            entries += ROWS_PER_TRANSACTION
          }
        }
        await Promise.all(Array.from({ length: APPEND_WINDOW }, worker))
        return (entries - before) / ((performance.now() - start) / 1000)
      }
      await drive(APPEND_WARMUP_MS)
      const rounds: number[] = []
      const cpuStart = process.cpuUsage()
      const entriesStart = entries
      for (let r = 0; r < APPEND_ROUNDS; r++) {
        await nextTurn()
        rounds.push(await drive(APPEND_ROUND_MS))
      }
      const cpu = process.cpuUsage(cpuStart)
      const cpuNsPerEntry = ((cpu.user + cpu.system) * 1000) / (entries - entriesStart)
      const counters: Record<string, number> = {}
      if (lib.encodeTransaction !== undefined) {
        // A fixed transaction (its keys' lengths depend on tx): the record's bytes beyond the rows' JSON.
        const items: readonly LogItem[] = transactionItems(1, pool)
        counters.log_record_overhead_bytes_per_50_rows =
          lib.encodeTransaction(items).bytes.length - ROW_BYTES * items.length
      }
      if (runtime === 'workers')
        counters.messages_per_awaited_append = await messagesPerAppend(engine, handles, () => tx++, pool)
      return {
        timed: {
          [`append_${runtime}_entries_per_s`]: { value: median(rounds), unit: 'entries/s', better: 'higher' },
          // CPU of every thread of the process per entry: the code's cost, steadier than the rate,
          // which also moves with fsync latency and thread scheduling.
          [`append_${runtime}_cpu_ns_per_entry`]: { value: cpuNsPerEntry, unit: 'ns', better: 'lower' },
        },
        counters,
      }
    },
  )
}

/** Thread messages (both ways) per append awaited alone, counted at the Worker class. */
async function messagesPerAppend(
  engine: Engine,
  handles: readonly string[],
  nextTx: () => number,
  pool: readonly string[],
): Promise<number> {
  const APPENDS = 100
  let messages = 0
  const post = Worker.prototype.postMessage
  const emit = Worker.prototype.emit
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
    messages++
    return post.apply(this, args)
  }
  Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') messages++
    return emit.call(this, event, ...args)
  }
  try {
    for (let i = 0; i < APPENDS; i++) {
      await engine.appendToLog(handles[i % handles.length] as string, transactionItems(nextTx(), pool))
    }
  } finally {
    Worker.prototype.postMessage = post
    Worker.prototype.emit = emit
  }
  return messages / APPENDS
}

const FANOUT_SHAPES = 1_500
const FANOUT_REPEATS = 9

/** One 50-row transaction into 1,500 shapes with one appendToLogs, 2 writer threads: median ms. */
async function fanout(context: ProbeContext): Promise<ProbeResult> {
  const { lib } = context
  return withScratchEngine(context, { runtime: lib.workerRuntime({ writers: 2 }) }, async (engine) => {
    const handles = await createShapes(engine, FANOUT_SHAPES)
    const pool = rowPool(256)
    const times: number[] = []
    for (let r = 0; r < FANOUT_REPEATS + 2; r++) {
      const items = transactionItems(r + 1, pool)
      const writes = handles.map((handle) => ({ handle, items }))
      await nextTurn()
      const start = process.hrtime.bigint()
      await engine.appendToLogs(writes)
      if (r >= 2) times.push(ns(start) / 1e6) // two warm-ups: thread start, first touch of each shape
    }
    return { timed: { fanout_ms: { value: median(times), unit: 'ms', better: 'lower' } }, counters: {} }
  })
}

const WAITERS = 10_000
const WAKE_REPEATS = 15

/** 10,000 waitForOffset waiters on one shape, one append: call -> every waiter resolved, median ms. */
async function wake(context: ProbeContext): Promise<ProbeResult> {
  const { lib } = context
  return withScratchEngine(context, { runtime: lib.workerRuntime({ writers: 2 }) }, async (engine) => {
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    const pool = rowPool(256)
    const times: number[] = []
    for (let r = 0; r < WAKE_REPEATS + 1; r++) {
      const at = engine.fetchLatestOffset(handle)
      const waits = Array.from({ length: WAITERS }, () => engine.waitForOffset(handle, at))
      await nextTurn()
      const start = process.hrtime.bigint()
      const appended = engine.appendToLog(handle, transactionItems(r + 1, pool))
      const woken = await Promise.all(waits)
      if (r >= 1) times.push(ns(start) / 1e6) // one warm-up: the writer thread starts
      await appended
      if (!woken.every(Boolean)) throw new Error('a waiter was not woken')
    }
    return { timed: { wake_ms: { value: median(times), unit: 'ms', better: 'lower' } }, counters: {} }
  })
}

// ---- log read ----

const READ_CHUNK_BYTES = 1024 * 1024
const READ_REPEATS = 60
/**
 * Reads before the timed ones: a fresh process can read at a third of its steady rate for its
 * first ~25 reads (the young generation grows, the JIT settles). Apart from that, a process
 * reads at one of two levels throughout (here ~0.6 or ~1.1 GB/s, the same tree): the figure is
 * bimodal across processes, and the pairs and the medians absorb it.
 */
const READ_WARMUPS = 40

/** getLogJson of one closed 1 MiB log chunk on the main thread (inline runtime): median GB/s. */
async function logRead(context: ProbeContext): Promise<ProbeResult> {
  const { lib } = context
  return withScratchEngine(
    context,
    { chunkBytesThreshold: READ_CHUNK_BYTES, runtime: lib.inlineRuntime() },
    async (engine) => {
      const { handle } = await engine.getOrCreateShape({ table: 'items' })
      await engine.makeNewSnapshot(handle, [])
      const pool = rowPool(1_024)
      const transactions = Math.ceil((READ_CHUNK_BYTES * 1.2) / (ROW_BYTES * ROWS_PER_TRANSACTION))
      for (let t = 1; t <= transactions; t++) await engine.appendToLog(handle, transactionItems(t, pool))
      const upTo = engine.getChunkEndLogOffset(handle, '0_inf')
      if (upTo === null) throw new Error('the first log chunk did not close')
      const gbps: number[] = []
      for (let r = 0; r < READ_WARMUPS + READ_REPEATS; r++) {
        const start = process.hrtime.bigint()
        const json = await engine.getLogJson(handle, '0_inf', upTo)
        if (r >= READ_WARMUPS) gbps.push(json.length / ns(start))
      }
      return { timed: { log_read_gbps: { value: median(gbps), unit: 'GB/s', better: 'higher' } }, counters: {} }
    },
  )
}

/** Every probe by name: the gate's hot paths. */
export const PROBES: Readonly<Record<string, Probe>> = {
  'hit-inline': (c) => hit(c, 'inline'),
  'hit-shared': (c) => hit(c, 'shared'),
  restore,
  'append-inline': (c) => append(c, 'inline'),
  'append-workers': (c) => append(c, 'workers'),
  fanout,
  wake,
  'log-read': logRead,
}
