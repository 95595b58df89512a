import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type Engine, openEngine } from '@shapestore/engine'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median, prng, shuffle } from '../stats.ts'
import {
  createShapes,
  nextTurn,
  ROW_BYTES,
  ROWS_PER_TRANSACTION,
  RUNTIMES,
  removeDir,
  rowPool,
  scratchDir,
  transactionItems,
} from './workload.ts'

/**
 * Unrelated shapes (Electric's "independent shapes, 1 write -> 1 shape" benchmark): a store
 * holding N live shapes, each with a small complete snapshot, takes one 50-row transaction into
 * ONE of them with appendToLog; timed from the call until it resolves (that shape's latest
 * offset is the transaction's, checked after each call). N = 100/500/1,500/3,100/10,000 on 2
 * writer threads; the point is flatness: a write must cost the same however many other shapes
 * the store holds (`largest_over_smallest`). Baseline in the same run: the same write into a
 * lone shape (N = 1, `<N>_over_alone`).
 *
 * Each N is its own engine and directory, all open at once, so the timed writes can interleave
 * (a round visits every N in a shuffled order): drift on a noisy machine hits every N alike,
 * which a store grown from 100 to 10,000 shapes between measurements could not give. The
 * target shape is picked at random per N and written once untimed before the rounds, so every
 * N times the same thing: a warm shape's append, not its first one.
 */
const SIZES = [100, 500, 1_500, 3_100, 10_000] as const
const PARTITIONS = 8
const SNAPSHOT_ROWS = 5
const ROUNDS = 31

export async function unrelatedShapes(context: ScenarioContext): Promise<ScenarioResult> {
  const root = scratchDir(context, 'unrelated-shapes')
  const pool = rowPool(1_024)
  const snapshot = pool.slice(0, SNAPSHOT_ROWS)
  const random = prng(11)
  const counts = [1, ...SIZES]
  const subjects = new Map<number, { engine: Engine; target: string }>()
  const timings = new Map<number, number[]>(counts.map((n) => [n, []]))
  let nextTx = 1
  try {
    for (const n of counts) {
      const engine = await openEngine({
        dir: join(root, String(n)),
        partitions: PARTITIONS,
        runtime: RUNTIMES.workers2(),
      })
      subjects.set(n, { engine, target: '' })
      // Through the runtime under test, so every shape is live in it (writer state, read-path key).
      const handles = await createShapes(engine, n)
      await Promise.all(handles.map((handle) => engine.makeNewSnapshot(handle, snapshot)))
      const target = handles[Math.floor(random() * handles.length)] as string
      subjects.set(n, { engine, target })
      await write(engine, target, nextTx++, pool)
    }
    const order = [...counts]
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of shuffle(order, random)) {
        const { engine, target } = subjects.get(n) as { engine: Engine; target: string }
        timings.get(n)?.push(await write(engine, target, nextTx++, pool))
      }
    }
  } finally {
    for (const { engine } of subjects.values()) await engine.close()
    removeDir(root)
  }

  const ms = (n: number) => median(timings.get(n) ?? [])
  const metrics: Metric[] = [metric('latency_1_ms', ms(1), 'ms')]
  const ratios: Ratio[] = []
  for (const n of SIZES) {
    metrics.push(metric(`latency_${n}_ms`, ms(n), 'ms'))
    ratios.push(ratio(`latency_${n}_over_alone`, ms(n) / ms(1)))
  }
  ratios.push(ratio('largest_over_smallest', ms(Math.max(...SIZES)) / ms(Math.min(...SIZES)), '<= 2'))
  return {
    scenario: 'unrelated-shapes',
    parameters: {
      shapes: SIZES,
      partitions: PARTITIONS,
      runtime: 'workers2',
      snapshotRows: SNAPSHOT_ROWS,
      rowBytes: ROW_BYTES,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      rounds: ROUNDS,
      timed: 'appendToLog into one shape: call -> resolve (durable, latest offset checked)',
      baseline: 'the same write into a lone shape (N = 1)',
    },
    metrics,
    ratios,
    series: [
      {
        name: 'workers2',
        x: [...SIZES],
        y: SIZES.map(ms),
        xLabel: 'shapes in the store',
        yLabel: 'ms (appendToLog into one shape)',
      },
    ],
  }
}

/** One timed appendToLog of transaction `tx` into `handle`; checks it is visible once resolved. */
async function write(engine: Engine, handle: string, tx: number, pool: readonly string[]): Promise<number> {
  const items = transactionItems(tx, pool)
  const last = `${tx}_${ROWS_PER_TRANSACTION - 1}`
  await nextTurn()
  const start = performance.now()
  await engine.appendToLog(handle, items)
  const elapsed = performance.now() - start
  const latest = engine.fetchLatestOffset(handle).toString()
  if (latest !== last) throw new Error(`shape ${handle} is at ${latest} after an append of ${last}`)
  return elapsed
}
