// One read-path figure, in a fresh process: `read-path-probe.ts <kind> <seed dir> <work dir>`.
// A server runs one runtime, so each process drives one kind of lookup only: no call site in the
// engine sees two table classes, and no kind runs in a heap another kind has shaped.
// Prints one JSON line: ns per lookup (the median batch), plus, for `writing`, the same harness
// idle and while the writer threads commit.
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type Engine, type LogOffset, openEngine } from '@shapestore/engine'
import { open } from 'lmdb'
import { Bench } from 'tinybench'
import { median, prng } from '../stats.ts'
import { nextTurn, RUNTIMES, rowPool, transactionItems } from './workload.ts'

export type ReadPathKind = 'inline' | 'shared' | 'map' | 'inline-hot' | 'shared-hot' | 'map-hot' | 'lmdb' | 'writing'

/** Lookups per timed batch: one lookup is too short for the timer; figures are per lookup. */
const BATCH = 1000
const ORDER_LENGTH = 1 << 20
const BENCH_MS = 600
const WRITING_MS = 1500
/** Appends kept in flight while measuring reads under writes. */
const WRITES_IN_FLIGHT = 16

const [kind, seedDir, workDir] = process.argv.slice(2) as [ReadPathKind, string, string]
const { handles } = JSON.parse(readFileSync(join(seedDir, 'seed.json'), 'utf8')) as { handles: string[] }
// The same random order in every process: 2^20 lookups over all the shapes.
const random = prng(42)
const order = Uint32Array.from({ length: ORDER_LENGTH }, () => Math.floor(random() * handles.length))
let cursor = 0
let sink = 0
const next = () => {
  cursor = (cursor + 1) & (ORDER_LENGTH - 1)
  return handles[order[cursor] as number] as string
}
// The same lookups over HOT_SHAPES shapes only, which stay in the CPU caches: the code path's
// own cost, without the cache misses that random order over every shape adds (the gate's
// probe measures this way).
const HOT_SHAPES = 1024
const hot = order.map((i) => i % Math.min(HOT_SHAPES, handles.length))
let hotCursor = 0
const nextHot = () => {
  hotCursor = (hotCursor + 1) & (ORDER_LENGTH - 1)
  return handles[hot[hotCursor] as number] as string
}

const engine = await openEngine({
  dir: seedDir,
  runtime: kind === 'inline' || kind === 'inline-hot' ? RUNTIMES.inline() : RUNTIMES.workers2(),
})
let result: Record<string, number>
try {
  // Every shape read once first: the misses fill the table, the timed reads are hits.
  for (const handle of handles) engine.fetchLatestOffset(handle)
  const key = kind.endsWith('-hot') ? nextHot : next
  const measured = kind.replace(/-hot$/, '')
  if (measured === 'inline' || measured === 'shared') {
    result = { ns: timeBatches(() => engine.fetchLatestOffset(key()).tx) }
  } else if (measured === 'map') {
    const map = new Map<string, LogOffset>(handles.map((handle) => [handle, engine.fetchLatestOffset(handle)]))
    result = { ns: timeBatches(() => (map.get(key()) as LogOffset).tx) }
  } else if (kind === 'lmdb') {
    result = { ns: await lmdbGets(engine) }
  } else {
    const idle = await batchedHits(engine, false)
    const writing = await batchedHits(engine, true)
    result = { idleNs: idle.ns, writingNs: writing.ns, entries: writing.entries }
  }
} finally {
  await engine.close()
}
if (sink === 0.5) console.log(sink) // keeps the loops observable
process.stdout.write(`${JSON.stringify(result)}\n`)

/** tinybench over batches of BATCH calls of `lookup`: the median batch, in ns per lookup. */
function timeBatches(lookup: () => number): number {
  const bench = new Bench({ time: BENCH_MS, warmupTime: 200 })
  bench.add(kind, () => {
    for (let i = 0; i < BATCH; i++) sink ^= lookup()
  })
  bench.runSync()
  const latency = bench.tasks[0]?.result
  if (latency === undefined || !('latency' in latency)) throw new Error(`read-path ${kind}: no result`)
  return (latency.latency.p50 * 1e6) / BATCH
}

/** An LMDB get of the same record (latest offset and snapshot flag) from a scratch environment. */
async function lmdbGets(source: Engine): Promise<number> {
  // No dot in the name: lmdb-js treats a path with a dot as a file and leaves a '-lock' file beside it.
  const dir = join(workDir, 'read-path-lmdb')
  rmSync(dir, { recursive: true, force: true })
  const scratch = open({ path: dir, mapSize: 1024 ** 3 })
  try {
    const records = scratch.openDB<{ latest: [number, number]; started: boolean }, number>({
      name: 'meta',
      keyEncoding: 'uint32',
    })
    const index = new Map<string, number>()
    await records.transaction(() => {
      handles.forEach((handle, i) => {
        const latest = source.fetchLatestOffset(handle)
        index.set(handle, i)
        records.put(i, { latest: [latest.tx, latest.op], started: source.snapshotStarted(handle) })
      })
    })
    return timeBatches(() => (records.get(index.get(next()) as number) as { latest: [number, number] }).latest[0])
  } finally {
    await scratch.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Median ns per lookup over batches of BATCH hits, yielding between batches (the appends must
 * flow); with `writing`, WRITES_IN_FLIGHT appends to random shapes run meanwhile.
 */
async function batchedHits(target: Engine, writing: boolean): Promise<{ ns: number; entries: number }> {
  const pool = rowPool(64)
  const pick = prng(7)
  let tx = 1000
  let entries = 0
  let stop = false
  const writers = writing
    ? Array.from({ length: WRITES_IN_FLIGHT }, async () => {
        while (!stop) {
          const items = transactionItems(++tx, pool)
          await target.appendToLog(handles[Math.floor(pick() * handles.length)] as string, items)
          entries += items.length
        }
      })
    : []
  // The writer threads start on the first write: let them be up and committing first.
  while (writing && entries < WRITES_IN_FLIGHT * 50) await nextTurn()
  const entriesBefore = entries
  const samples: number[] = []
  const until = performance.now() + WRITING_MS
  while (performance.now() < until) {
    const start = performance.now()
    for (let i = 0; i < BATCH; i++) sink ^= target.fetchLatestOffset(next()).tx
    samples.push(((performance.now() - start) * 1e6) / BATCH)
    await nextTurn()
  }
  stop = true
  await Promise.all(writers)
  return { ns: median(samples), entries: entries - entriesBefore }
}
