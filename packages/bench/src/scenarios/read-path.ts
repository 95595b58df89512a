import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type LogOffset, openEngine } from '@shapestore/engine'
import { open } from 'lmdb'
import { Bench } from 'tinybench'
import type { ScenarioContext, ScenarioResult } from '../scenario.ts'
import { ensureSeed } from '../seed.ts'
import { prng } from '../stats.ts'

/**
 * Read path: the latest offset of a live shape (a table hit on the main thread) against a plain
 * `Map.get` of the same data and an LMDB `get` of the same record, in random order over N shapes
 * (50,000 by default). tinybench times batches of BATCH lookups (one lookup is too short for
 * the timer); figures are per lookup. Not yet measured: the same while writers commit (that
 * needs the worker runtime).
 */
const BATCH = 1000
const ORDER_LENGTH = 1 << 20

export async function readPath(context: ScenarioContext): Promise<ScenarioResult> {
  const shapes = context.shapes ?? 50_000
  const seed = await ensureSeed(join(context.dataDir, `cold-restore-${shapes}`), {
    shapes,
    snapshotRows: 3,
    transactions: 3,
    rowsPerTransaction: 5,
  })
  const engine = await openEngine({ dir: seed.dir })
  const scratchDir = join(context.dataDir, 'read-path-lmdb')
  rmSync(scratchDir, { recursive: true, force: true })
  const scratch = open({ path: scratchDir, mapSize: 1024 ** 3 })
  const records = scratch.openDB<{ latest: [number, number]; started: boolean }, number>({
    name: 'meta',
    keyEncoding: 'uint32',
  })
  try {
    const handles = seed.handles
    const map = new Map<string, LogOffset>()
    await records.transaction(() => {
      handles.forEach((handle, i) => {
        const latest = engine.fetchLatestOffset(handle) // fills the table: later reads are hits
        map.set(handle, latest)
        records.put(i, { latest: [latest.tx, latest.op], started: engine.snapshotStarted(handle) })
      })
    })
    const random = prng(42)
    const order = Uint32Array.from({ length: ORDER_LENGTH }, () => Math.floor(random() * handles.length))
    let cursor = 0
    let sink = 0
    const next = () => {
      cursor = (cursor + 1) & (ORDER_LENGTH - 1)
      return order[cursor] as number
    }

    const bench = new Bench({ time: 1000, warmupTime: 200 })
    bench
      .add('table hit (fetchLatestOffset)', () => {
        for (let i = 0; i < BATCH; i++) sink ^= engine.fetchLatestOffset(handles[next()] as string).tx
      })
      .add('Map.get', () => {
        for (let i = 0; i < BATCH; i++) sink ^= (map.get(handles[next()] as string) as LogOffset).tx
      })
      .add('LMDB get', () => {
        for (let i = 0; i < BATCH; i++) sink ^= (records.get(next()) as { latest: [number, number] }).latest[0]
      })
    bench.runSync()
    if (sink === 0.5) console.log(sink) // keeps the loops observable

    const perLookupNs = (name: string) => {
      const result = bench.getTask(name)?.result
      if (result === undefined || !('latency' in result)) throw new Error(`task ${name} did not complete`)
      return (result.latency.p50 * 1e6) / BATCH
    }
    const hitNs = perLookupNs('table hit (fetchLatestOffset)')
    const mapNs = perLookupNs('Map.get')
    const lmdbNs = perLookupNs('LMDB get')
    return {
      scenario: 'read-path',
      parameters: { shapes, batch: BATCH, order: 'random', runtime: 'inline' },
      metrics: {
        hit_ns: { value: hitNs, unit: 'ns/lookup' },
        map_get_ns: { value: mapNs, unit: 'ns/lookup' },
        lmdb_get_ns: { value: lmdbNs, unit: 'ns/lookup' },
        hit_mops: { value: 1e3 / hitNs, unit: 'M lookups/s' },
      },
      ratios: {
        // Throughput ratios, as ARCHITECTURE.md names them: a_over_b = a's ops/s / b's ops/s.
        map_over_hit: { value: hitNs / mapNs, goal: '<= 3' },
        hit_over_lmdb: { value: lmdbNs / hitNs, goal: '>= 10' },
      },
    }
  } finally {
    await engine.close()
    await scratch.close()
    rmSync(scratchDir, { recursive: true, force: true })
  }
}
