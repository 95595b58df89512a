import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type Engine, type LogOffset, openEngine } from '@shapestore/engine'
import { open } from 'lmdb'
import { Bench } from 'tinybench'
import { metric, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { ensureSeed } from '../seed.ts'
import { median, prng } from '../stats.ts'
import { nextTurn, RUNTIMES, rowPool, transactionItems } from './workload.ts'

/**
 * Read path: the latest offset of a live shape, read on the main thread, in random order over
 * N shapes (50,000 by default):
 * - a table hit on the worker runtime (the shared-memory table the writer threads publish into)
 *   and on the inline runtime (a Map), against a plain `Map.get` of the same data and an LMDB
 *   `get` of the same record (tinybench, batches of BATCH lookups: one lookup is too short for
 *   the timer; figures are per lookup);
 * - the shared-memory hit again while the writer threads commit (own harness: the main thread
 *   must yield between batches for the appends to flow), against the same harness idle.
 */
const BATCH = 1000
const ORDER_LENGTH = 1 << 20
const WRITING_MS = 1500
/** Appends kept in flight while measuring reads under writes. */
const WRITES_IN_FLIGHT = 16

export async function readPath(context: ScenarioContext): Promise<ScenarioResult> {
  const shapes = context.shapes ?? 50_000
  const seed = await ensureSeed(join(context.dataDir, `cold-restore-${shapes}`), {
    shapes,
    snapshotRows: 3,
    transactions: 3,
    rowsPerTransaction: 5,
  })
  const handles = seed.handles
  const random = prng(42)
  const order = Uint32Array.from({ length: ORDER_LENGTH }, () => Math.floor(random() * handles.length))
  let cursor = 0
  let sink = 0
  const next = () => {
    cursor = (cursor + 1) & (ORDER_LENGTH - 1)
    return handles[order[cursor] as number] as string
  }
  const hitTask = (engine: Engine) => () => {
    for (let i = 0; i < BATCH; i++) sink ^= engine.fetchLatestOffset(next()).tx
  }

  // The inline runtime's table (a Map behind the facade).
  let engine = await openEngine({ dir: seed.dir, runtime: RUNTIMES.inline() })
  for (const handle of handles) engine.fetchLatestOffset(handle)
  const inlineBench = new Bench({ time: 1000, warmupTime: 200 })
  inlineBench.add('hit (inline runtime)', hitTask(engine))
  inlineBench.runSync()
  await engine.close()

  // The worker runtime: the shared-memory table, filled by misses first (later reads are hits).
  engine = await openEngine({ dir: seed.dir, runtime: RUNTIMES.workers2() })
  // No dot in the name: lmdb-js treats a path with a dot as a file and leaves a '-lock' file beside it.
  const scratchDir = join(context.dataDir, 'read-path-lmdb')
  rmSync(scratchDir, { recursive: true, force: true })
  const scratch = open({ path: scratchDir, mapSize: 1024 ** 3 })
  const records = scratch.openDB<{ latest: [number, number]; started: boolean }, number>({
    name: 'meta',
    keyEncoding: 'uint32',
  })
  try {
    const map = new Map<string, LogOffset>()
    const index = new Map<string, number>()
    await records.transaction(() => {
      handles.forEach((handle, i) => {
        const latest = engine.fetchLatestOffset(handle)
        map.set(handle, latest)
        index.set(handle, i)
        records.put(i, { latest: [latest.tx, latest.op], started: engine.snapshotStarted(handle) })
      })
    })
    const bench = new Bench({ time: 1000, warmupTime: 200 })
    bench
      .add('hit (worker runtime, shared memory)', hitTask(engine))
      .add('Map.get', () => {
        for (let i = 0; i < BATCH; i++) sink ^= (map.get(next()) as LogOffset).tx
      })
      .add('LMDB get', () => {
        for (let i = 0; i < BATCH; i++) {
          sink ^= (records.get(index.get(next()) as number) as { latest: [number, number] }).latest[0]
        }
      })
    bench.runSync()

    const perLookupNs = (b: Bench, name: string) => {
      const result = b.getTask(name)?.result
      if (result === undefined || !('latency' in result)) throw new Error(`task ${name} did not complete`)
      return (result.latency.p50 * 1e6) / BATCH
    }
    const idleNs = await batchedHits(engine, next, false)
    const writing = await batchedHits(engine, next, true, handles)
    if (sink === 0.5) console.log(sink) // keeps the loops observable

    const sharedNs = perLookupNs(bench, 'hit (worker runtime, shared memory)')
    const inlineNs = perLookupNs(inlineBench, 'hit (inline runtime)')
    const mapNs = perLookupNs(bench, 'Map.get')
    const lmdbNs = perLookupNs(bench, 'LMDB get')
    return {
      scenario: 'read-path',
      parameters: {
        shapes,
        batch: BATCH,
        order: 'random',
        writingMs: WRITING_MS,
        writesInFlight: WRITES_IN_FLIGHT,
        entriesCommittedWhileReading: writing.entries,
      },
      metrics: [
        metric('hit_shared_ns', sharedNs, 'ns/lookup'),
        metric('hit_inline_ns', inlineNs, 'ns/lookup'),
        metric('map_get_ns', mapNs, 'ns/lookup'),
        metric('lmdb_get_ns', lmdbNs, 'ns/lookup'),
        metric('hit_shared_idle_harness_ns', idleNs.ns, 'ns/lookup'),
        metric('hit_shared_while_writing_ns', writing.ns, 'ns/lookup'),
      ],
      ratios: [
        // Throughput ratios, as ARCHITECTURE.md names them: a_over_b = a's ops/s / b's ops/s.
        ratio('map_over_hit', sharedNs / mapNs, '<= 3'),
        ratio('hit_over_lmdb', lmdbNs / sharedNs, '>= 10'),
        ratio('inline_hit_over_shared_hit', sharedNs / inlineNs),
        ratio('idle_over_writing', writing.ns / idleNs.ns, '<= 1.5'),
      ],
    }
  } finally {
    await engine.close()
    await scratch.close()
    rmSync(scratchDir, { recursive: true, force: true })
  }
}

/**
 * Median ns per lookup over batches of BATCH hits, yielding between batches; with `writing`,
 * WRITES_IN_FLIGHT appends to random shapes run meanwhile (the writer threads commit them).
 */
async function batchedHits(
  engine: Engine,
  next: () => string,
  writing: boolean,
  handles: readonly string[] = [],
): Promise<{ ns: number; entries: number }> {
  const pool = rowPool(64)
  const random = prng(7)
  let tx = 1000
  let entries = 0
  let stop = false
  const writers = writing
    ? Array.from({ length: WRITES_IN_FLIGHT }, async () => {
        while (!stop) {
          const handle = handles[Math.floor(random() * handles.length)] as string
          const items = transactionItems(++tx, pool)
          await engine.appendToLog(handle, items)
          entries += items.length
        }
      })
    : []
  // The writer threads start on the first write (and load their code): let them be up and
  // committing before the clock starts.
  while (writing && entries < WRITES_IN_FLIGHT * 50) await nextTurn()
  const entriesBefore = entries
  const samples: number[] = []
  const until = performance.now() + WRITING_MS
  let sink = 0
  while (performance.now() < until) {
    const start = performance.now()
    for (let i = 0; i < BATCH; i++) sink ^= engine.fetchLatestOffset(next()).tx
    samples.push(((performance.now() - start) * 1e6) / BATCH)
    await nextTurn()
  }
  stop = true
  await Promise.all(writers)
  if (sink === 0.5) console.log(sink)
  return { ns: median(samples), entries: entries - entriesBefore }
}
