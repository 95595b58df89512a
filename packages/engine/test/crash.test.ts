/**
 * Real-process crash test. Claim: after the process is killed with SIGKILL at an arbitrary
 * instant while appending, reopening the directory gives a consistent store: every transaction
 * the child had acknowledged (its promise resolved) is there; no transaction is partially present
 * (each transaction is all-or-nothing per shape); offsets strictly increase; latest offset ==
 * last persisted offset >= last acknowledged; the directory lock is free again; and the child can
 * resume by replaying from the last acknowledged transaction (idempotent: replayed items are
 * skipped, no duplicates).
 *
 * How: a child process (fixtures/crash-child.ts) appends a deterministic workload to 6 shapes in
 * 2 partitions (6 source transactions in flight, single- and multi-shape, plus snapshots) and
 * reports each acknowledgement on stdout. The parent kills it with SIGKILL after a random delay,
 * reopens the directory, and compares every shape's whole log (and snapshot) with the workload
 * regenerated from the seed. The next child resumes on the same directory, replaying on purpose.
 * A last child resumes, finishes a fixed number of transactions and closes cleanly.
 *
 * Replay a run: CRASH_SEED=<seed printed by the test> (CRASH_ROUNDS=<n> to change the rounds).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Engine, EngineError, ErrorCode, LogOffset, openEngine, type ShapeHandle } from '../src/index.ts'
import {
  CHUNK_BYTES_THRESHOLD,
  engineOptions,
  itemCount,
  itemJson,
  lastOp,
  SHAPE_COUNT,
  SNAPSHOT_ROWS,
  shapeDefinition,
  shapesOf,
  snapshotRows,
} from './fixtures/crash-child.ts'
import { prng, snapshotChunks } from './support/crash-kit.ts'

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url))
const ENGINE_DIR = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20)
const KILL_DELAY_MS = { min: 30, max: 300 }
/** Transactions the final, clean child appends beyond the highest one found. */
const FINISH_EXTRA_TXS = 300
const END = LogOffset.of(Number.MAX_SAFE_INTEGER, 0)

/** The expected log of each shape, regenerated from the seed and extended on demand. */
class Expected {
  readonly #seed: number
  readonly #json: string[][] = Array.from({ length: SHAPE_COUNT }, () => [])
  /** Per shape: transaction t -> index just past its last item in #json. */
  readonly #txEnd: Array<Map<number, number>> = Array.from({ length: SHAPE_COUNT }, () => new Map())
  /** Per shape, the transactions touching it, ascending. */
  readonly #txs: number[][] = Array.from({ length: SHAPE_COUNT }, () => [])
  #builtTo = 0

  constructor(seed: number) {
    this.#seed = seed
  }

  get seed(): number {
    return this.#seed
  }

  #extend(t: number): void {
    for (; this.#builtTo < t; ) {
      const tx = ++this.#builtTo
      for (const shape of shapesOf(this.#seed, tx)) {
        const json = this.#json[shape] as string[]
        for (let k = 0; k < itemCount(this.#seed, shape, tx); k++) json.push(itemJson(this.#seed, shape, tx, k))
        this.#txEnd[shape]?.set(tx, json.length)
        this.#txs[shape]?.push(tx)
      }
    }
  }

  touches(shape: number, t: number): boolean {
    return shapesOf(this.#seed, t).includes(shape)
  }

  lastOffset(shape: number, t: number): LogOffset {
    return LogOffset.of(t, lastOp(this.#seed, shape, t))
  }

  /** The shape's items of transactions 1..t (t touches the shape). */
  log(shape: number, t: number): string[] {
    this.#extend(t)
    const end = this.#txEnd[shape]?.get(t)
    assert.ok(end !== undefined, `transaction ${t} does not touch shape ${shape}`)
    return (this.#json[shape] as string[]).slice(0, end)
  }

  /** The shape's transactions up to t, ascending. */
  txs(shape: number, t: number): number[] {
    this.#extend(t)
    return (this.#txs[shape] as number[]).filter((tx) => tx <= t)
  }

  /** The last transaction at or below t that touches the shape, or 0. */
  lastTxUpTo(shape: number, t: number): number {
    return this.txs(shape, t).at(-1) ?? 0
  }

  endOf(shape: number, t: number): number {
    this.#extend(t)
    return this.#txEnd[shape]?.get(t) ?? 0
  }
}

/** What the children reported, over all rounds so far. */
interface Reported {
  handles: Array<ShapeHandle | undefined>
  /** Per shape, the highest transaction acknowledged. */
  ackedTx: number[]
  /** Per shape, the last snapshot chunk once the snapshot was acknowledged (or seen complete). */
  snapshot: Array<string | undefined>
  /** Per shape, the latest offset found by the previous check (durable data never goes away). */
  seen: LogOffset[]
  acks: number
}

interface ChildRun {
  readonly process: ChildProcess
  /** Resolves at the child's `ready` line; rejects if it exits first. */
  readonly ready: Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Complete lines of stdout so far (a line cut by the kill is dropped). */
  lines(): string[]
  stderr(): string
}

function startChild(dir: string, seed: number, finishAt?: number): ChildRun {
  const args = ['--import', 'tsx', CHILD, dir, String(seed)]
  if (finishAt !== undefined) args.push('finish', String(finishAt))
  const child = spawn(process.execPath, args, { cwd: ENGINE_DIR, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let onReady: () => void = () => {}
  let onEarlyExit: (error: Error) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onEarlyExit = reject
  })
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  let readySeen = false
  child.stdout.on('data', (data: string) => {
    stdout += data
    if (!readySeen && /^ready$/m.test(stdout)) {
      readySeen = true
      onReady()
    }
  })
  child.stderr.on('data', (data: string) => {
    stderr += data
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close': the process is gone and its stdio is drained.
    child.on('close', (code, signal) => {
      onEarlyExit(new Error(`child exited (code ${code}, signal ${signal}) before ready:\n${stderr}`))
      resolve({ code, signal })
    })
  })
  ready.catch(() => {}) // awaited only by kill rounds; the final run checks the exit instead
  return {
    process: child,
    ready,
    exited,
    lines: () =>
      stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter(Boolean),
    stderr: () => stderr,
  }
}

/** Folds a child's report into what is known; checks the child saw the same handles as before. */
function absorb(reported: Reported, lines: readonly string[], round: string): void {
  for (const line of lines) {
    const [kind, a, b] = line.split(' ')
    if (kind === 'shape') {
      const shape = Number(a)
      const known = reported.handles[shape]
      if (known !== undefined) assert.equal(b, known, `${round}: shape ${shape} got a new handle`)
      reported.handles[shape] = b
    } else if (kind === 'ack') {
      const shape = Number(a)
      reported.ackedTx[shape] = Math.max(reported.ackedTx[shape] ?? 0, Number(b))
      reported.acks++
    } else if (kind === 'snap') {
      reported.snapshot[Number(a)] = b
    } else if (kind === 'resume') {
      // The child found what the last check found, and restarts at or before every shape's last
      // transaction: it replays each shape's last (acknowledged or at least durable) transaction.
      const lastTxs = Array.from({ length: SHAPE_COUNT }, (_, shape) => {
        const seen = reported.seen[shape]
        return seen?.isReal === true ? seen.tx : 0
      })
      assert.equal(Number(b), Math.max(...lastTxs), `${round}: the child's highest transaction on resume`)
      assert.ok(Number(a) <= Math.max(1, Math.min(...lastTxs)), `${round}: the child resumes after ${a}`)
    } else {
      assert.ok(kind === 'ready' || kind === 'closed', `${round}: unexpected child output ${line}`)
    }
  }
}

async function readAll(stream: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = []
  for await (const json of stream) all.push(json)
  return all
}

/** Exact equality of two JSON lists, failing with the first difference (not a 100k-line diff). */
function assertSameEntries(actual: readonly string[], expected: readonly string[], what: string): void {
  const n = Math.min(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(
        `${what}: entry ${i} is ${actual[i]}, expected ${expected[i]} (${actual.length} vs ${expected.length})`,
      )
    }
  }
  if (actual.length !== expected.length) {
    const extra = actual.length > expected.length ? `extra ${actual[n]}` : `missing ${expected[n]}`
    assert.fail(`${what}: ${actual.length} entries, expected ${expected.length}; first ${extra}`)
  }
}

/** Offsets strictly increase: checked on the (t, o) each entry names, independently of `expected`. */
function assertIncreasing(entries: readonly string[], what: string): void {
  let previous = LogOffset.LAST_BEFORE_REAL
  for (const json of entries) {
    const { t, o } = JSON.parse(json) as { t: number; o: number }
    const offset = LogOffset.of(t, o)
    assert.ok(offset.isAfter(previous), `${what}: ${offset} follows ${previous}`)
    previous = offset
  }
}

async function snapshotState(engine: Engine, handle: ShapeHandle): Promise<{ rows: string[] } | { error: string }> {
  try {
    return { rows: await readAll(engine.getLogStream(handle, '-1', '0_inf')) }
  } catch (error) {
    if (error instanceof EngineError) return { error: error.code }
    throw error
  }
}

/** Opens the directory the child left and checks every claim of the file header against the acks. */
async function check(dir: string, expected: Expected, reported: Reported, round: string): Promise<string[]> {
  const snapshotNotes: string[] = []
  // The child is dead: its OFD lock is gone, so this open succeeds (DIRECTORY_LOCKED otherwise).
  const engine = await openEngine(engineOptions(dir))
  try {
    assert.equal(engine.countShapes(), SHAPE_COUNT, `${round}: shapes in the catalog`)
    for (let shape = 0; shape < SHAPE_COUNT; shape++) {
      const what = `${round}, shape ${shape}`
      const handle = engine.fetchHandleByShape(shapeDefinition(shape))
      assert.ok(handle !== undefined, `${what}: no handle`)
      assert.equal(handle, reported.handles[shape], `${what}: handle`)

      const latest = engine.fetchLatestOffset(handle)
      const persisted = engine.fetchLastPersistedOffset(handle)
      assert.equal(latest.toString(), persisted.toString(), `${what}: latest offset != last persisted offset`)
      const previous = reported.seen[shape] ?? LogOffset.LAST_BEFORE_REAL
      if (previous.isReal) assert.ok(!latest.isBefore(previous), `${what}: went back from ${previous} to ${latest}`)
      reported.seen[shape] = latest

      const acked = reported.ackedTx[shape] ?? 0
      // The whole log, read past the latest offset too: nothing may lie beyond it.
      const log = await readAll(engine.getLogStream(handle, '0_inf', END))
      if (latest.isReal) {
        // The latest offset is the last item of a transaction of this shape...
        assert.ok(expected.touches(shape, latest.tx), `${what}: latest ${latest} names a foreign transaction`)
        assert.equal(latest.toString(), expected.lastOffset(shape, latest.tx).toString(), `${what}: latest offset`)
        // ...at or past the last acknowledged one...
        if (acked > 0) {
          const ackedOffset = expected.lastOffset(shape, acked)
          assert.ok(!latest.isBefore(ackedOffset), `${what}: latest ${latest} is before acked ${ackedOffset}`)
        }
        // ...and the log is exactly transactions 1..latest.tx of the shape: complete, once each, in order.
        const verified = previous.isReal ? expected.endOf(shape, previous.tx) : 0
        assertIncreasing(log.slice(Math.max(0, verified - 1)), what)
        assertSameEntries(log, expected.log(shape, latest.tx), `${what}: log up to ${latest}`)
        // Reading on from the previous check's offset (a transaction boundary) gets the rest.
        assertSameEntries(
          await readAll(engine.getLogStream(handle, previous.isReal ? previous : LogOffset.LAST_BEFORE_REAL)),
          log.slice(verified),
          `${what}: log after ${previous}`,
        )
      } else {
        assert.equal(acked, 0, `${what}: no log entry, but transaction ${acked} was acknowledged`)
        assert.deepEqual(log, [], `${what}: log entries beyond latest offset ${latest}`)
      }

      // Snapshot: complete and exact if acknowledged (or once seen complete), else absent or incomplete.
      const snapshot = await snapshotState(engine, handle)
      if (!SNAPSHOT_ROWS.has(shape)) {
        assert.deepEqual(snapshot, { error: ErrorCode.SNAPSHOT_NOT_STARTED }, `${what}: snapshot`)
        continue
      }
      const rows = snapshotRows(expected.seed, shape)
      const chunks = snapshotChunks(rows, CHUNK_BYTES_THRESHOLD)
      const lastChunk = LogOffset.snapshotChunk(chunks.length - 1).toString()
      const ackedSnapshot = reported.snapshot[shape]
      if (ackedSnapshot !== undefined) assert.equal(ackedSnapshot, lastChunk, `${what}: acknowledged snapshot end`)
      if ('error' in snapshot) {
        assert.equal(ackedSnapshot, undefined, `${what}: acknowledged snapshot unreadable: ${snapshot.error}`)
        assert.ok(
          snapshot.error === ErrorCode.SNAPSHOT_INCOMPLETE || snapshot.error === ErrorCode.SNAPSHOT_NOT_STARTED,
          `${what}: snapshot read failed with ${snapshot.error}`,
        )
        if (!latest.isReal) assert.equal(latest.toString(), '0_inf', `${what}: latest offset without snapshot`)
        snapshotNotes.push(`${shape}:${snapshot.error}`)
        continue
      }
      assertSameEntries(snapshot.rows, rows, `${what}: snapshot`)
      for (let c = 0; c < chunks.length; c++) {
        const since = c === 0 ? '-1' : `0_${c - 1}`
        assertSameEntries(
          await readAll(engine.getLogStream(handle, since, `0_${c}`)),
          chunks[c] as string[],
          `${what}: snapshot chunk ${c}`,
        )
      }
      if (!latest.isReal) assert.equal(latest.toString(), lastChunk, `${what}: latest offset of a snapshot-only shape`)
      reported.snapshot[shape] = lastChunk // durable from now on
      snapshotNotes.push(`${shape}:${lastChunk}`)
    }
  } finally {
    await engine.close()
  }
  return snapshotNotes
}

test('SIGKILL while appending: reopening finds every acked transaction, whole, once, in order', {
  timeout: 180_000,
}, async (t) => {
  const seed = process.env.CRASH_SEED === undefined ? (Math.random() * 2 ** 31) >>> 0 : Number(process.env.CRASH_SEED)
  assert.ok(Number.isSafeInteger(seed) && seed >= 0, `CRASH_SEED must be a non-negative integer, got ${seed}`)
  assert.ok(Number.isSafeInteger(ROUNDS) && ROUNDS >= 1, `CRASH_ROUNDS must be a positive integer, got ${ROUNDS}`)
  t.diagnostic(`seed ${seed} (replay with CRASH_SEED=${seed}), ${ROUNDS} kill rounds`)
  const random = prng(seed)
  const expected = new Expected(seed)
  const reported: Reported = { handles: [], ackedTx: [], snapshot: [], seen: [], acks: 0 }
  const root = mkdtempSync(join(tmpdir(), 'shapestore-crash-'))
  const dir = join(root, 'data')
  const started = Date.now()
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      const round = `round ${r} (seed ${seed})`
      const child = startChild(dir, seed)
      try {
        await child.ready
        // While the child runs, the directory is taken.
        await assert.rejects(openEngine(engineOptions(dir)), (error: unknown) =>
          EngineError.isCode(error, ErrorCode.DIRECTORY_LOCKED),
        )
        const delay = KILL_DELAY_MS.min + Math.floor(random() * (KILL_DELAY_MS.max - KILL_DELAY_MS.min + 1))
        await new Promise((resolve) => setTimeout(resolve, delay))
      } finally {
        child.process.kill('SIGKILL')
      }
      const exit = await child.exited
      assert.equal(
        exit.signal,
        'SIGKILL',
        `${round}: the child died on its own (code ${exit.code}):\n${child.stderr()}`,
      )
      const acksBefore = reported.acks
      absorb(reported, child.lines(), round)
      const snapshots = await check(dir, expected, reported, round)
      const latest = reported.seen.join(' ')
      t.diagnostic(`${round}: ${reported.acks - acksBefore} acks, latest ${latest}, snapshots ${snapshots.join(' ')}`)
    }

    // A last child resumes after the last kill, appends a fixed number of transactions and closes.
    const highest = Math.max(...reported.seen.map((offset) => (offset.isReal ? offset.tx : 0)))
    const finishAt = highest + FINISH_EXTRA_TXS
    const child = startChild(dir, seed, finishAt)
    const exit = await child.exited
    assert.deepEqual(exit, { code: 0, signal: null }, `final child failed:\n${child.stderr()}`)
    assert.equal(child.lines().at(-1), 'closed')
    absorb(reported, child.lines(), 'final round')
    for (let shape = 0; shape < SHAPE_COUNT; shape++) {
      // Every transaction up to finishAt was acknowledged, for every shape it touches.
      assert.equal(reported.ackedTx[shape], expected.lastTxUpTo(shape, finishAt), `final round: shape ${shape} acks`)
    }
    for (const shape of SNAPSHOT_ROWS.keys()) assert.ok(reported.snapshot[shape] !== undefined, `snapshot ${shape}`)
    await check(dir, expected, reported, 'final round')
    for (let shape = 0; shape < SHAPE_COUNT; shape++) {
      const last = expected.lastTxUpTo(shape, finishAt)
      assert.equal(reported.seen[shape]?.toString(), expected.lastOffset(shape, last).toString(), `final ${shape}`)
    }
    t.diagnostic(`${reported.acks} acks in all, ${((Date.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
