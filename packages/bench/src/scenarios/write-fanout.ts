import { performance } from 'node:perf_hooks'
import { type Engine, type LogItem, openEngine } from '@shapestore/engine'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'
import {
  createShapes,
  nextTurn,
  ROW_BYTES,
  ROWS_PER_TRANSACTION,
  RUNTIMES,
  type RuntimeName,
  removeDir,
  rowPool,
  scratchDir,
  transactionItems,
} from './workload.ts'

/**
 * Write fanout: one source transaction (50 rows of 200 bytes) into N shapes with one
 * appendToLogs call, the SAME items array for every shape, timed from the call until it
 * resolves (every shape's part committed durably with its keys published: every shape's latest
 * offset is the transaction's, which is checked after each call). Median of REPEATS calls per
 * N, inline and on 2 writer threads. Baseline in the same run: the same N shapes each given
 * its own copy of the items (a distinct array per shape), which turns off the shared-record
 * layout (one stored copy per partition plus a 12-byte reference per shape), so
 * `distinct_over_shared` is what the shared record buys. Shared and distinct calls alternate
 * (and swap order every repeat) so drift hits both alike.
 *
 * Not a tinybench task: on the worker runtime the work runs on other threads.
 */
const FANOUTS = [100, 500, 1_500, 3_100] as const
const PARTITIONS = 8
const REPEATS = 5
const RUNTIME_ORDER: readonly RuntimeName[] = ['inline', 'workers2']
/** The fanout ARCHITECTURE.md states its goal for: visible in <= 50 ms at 1,500 shapes. */
const GOAL_SHAPES = 1_500

type Layout = 'shared' | 'distinct'

export async function writeFanout(context: ScenarioContext): Promise<ScenarioResult> {
  const dir = scratchDir(context, 'write-fanout')
  const pool = rowPool(1_024)
  const shapes = Math.max(...FANOUTS)
  const timings = new Map<string, number[]>()
  let nextTx = 1
  try {
    const creator = await openEngine({ dir, partitions: PARTITIONS })
    let handles: string[]
    try {
      handles = await createShapes(creator, shapes)
    } finally {
      await creator.close()
    }

    for (const runtime of RUNTIME_ORDER) {
      const engine = await openEngine({ dir, partitions: PARTITIONS, runtime: RUNTIMES[runtime]() })
      try {
        // Starts the writers and loads every shape's writer state; warms both layouts' code.
        for (const layout of ['shared', 'distinct'] as const) {
          await fanout(engine, handles, transactionItems(nextTx++, pool), layout)
        }
        for (const n of FANOUTS) {
          const targets = handles.slice(0, n)
          for (let repeat = 0; repeat < REPEATS; repeat++) {
            const layouts: Layout[] = repeat % 2 === 0 ? ['shared', 'distinct'] : ['distinct', 'shared']
            for (const layout of layouts) {
              const key = `${runtime}_${layout}_${n}`
              const list = timings.get(key) ?? []
              list.push(await fanout(engine, targets, transactionItems(nextTx++, pool), layout))
              timings.set(key, list)
            }
          }
        }
      } finally {
        await engine.close()
      }
    }
  } finally {
    removeDir(dir)
  }

  const ms = (runtime: RuntimeName, layout: Layout, n: number) => median(timings.get(`${runtime}_${layout}_${n}`) ?? [])
  const metrics: Metric[] = []
  const ratios: Ratio[] = []
  for (const runtime of RUNTIME_ORDER) {
    for (const n of FANOUTS) {
      metrics.push(
        metric(`${runtime}_shared_${n}_ms`, ms(runtime, 'shared', n), 'ms', n === GOAL_SHAPES ? '<= 50' : undefined),
        metric(`${runtime}_distinct_${n}_ms`, ms(runtime, 'distinct', n), 'ms'),
      )
    }
  }
  for (const runtime of RUNTIME_ORDER) {
    for (const n of FANOUTS) {
      ratios.push(ratio(`distinct_over_shared_${n}_${runtime}`, ms(runtime, 'distinct', n) / ms(runtime, 'shared', n)))
    }
  }
  // The threads must not cost: the worker runtime's time over the inline one's, same run.
  for (const kind of ['shared', 'distinct'] as const) {
    for (const n of FANOUTS) {
      const goal = n === GOAL_SHAPES ? '<= 1' : undefined
      ratios.push(ratio(`workers2_over_inline_${kind}_${n}`, ms('workers2', kind, n) / ms('inline', kind, n), goal))
    }
  }
  return {
    scenario: 'write-fanout',
    parameters: {
      fanouts: FANOUTS,
      partitions: PARTITIONS,
      rowBytes: ROW_BYTES,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      repeats: REPEATS,
      timed: 'appendToLogs call -> resolve (durable, every shape visible)',
      baseline: 'distinct: a copy of the items per shape (no shared record)',
    },
    metrics,
    ratios,
    series: RUNTIME_ORDER.flatMap((runtime) =>
      (['shared', 'distinct'] as const).map((layout) => ({
        name: `${runtime} ${layout}`,
        x: [...FANOUTS],
        y: FANOUTS.map((n) => ms(runtime, layout, n)),
        xLabel: 'shapes written (one appendToLogs)',
        yLabel: 'ms until every shape visible',
      })),
    ),
  }
}

/**
 * One appendToLogs of `items` into every shape of `handles`: the same array (shared) or a copy
 * per shape (distinct, built before the clock starts). Returns the ms until it resolved, after
 * checking that every shape's latest offset is now the transaction's last row.
 */
async function fanout(
  engine: Engine,
  handles: readonly string[],
  items: readonly LogItem[],
  layout: Layout,
): Promise<number> {
  const entries = handles.map((handle) => ({
    handle,
    items: layout === 'shared' ? items : items.map((item) => ({ ...item })),
  }))
  const last = String((items[items.length - 1] as LogItem).offset)
  await nextTurn()
  const start = performance.now()
  await engine.appendToLogs(entries)
  const elapsed = performance.now() - start
  for (const handle of handles) {
    const latest = engine.fetchLatestOffset(handle).toString()
    if (latest !== last) throw new Error(`shape ${handle} is at ${latest} after a fanout of ${last}`)
  }
  return elapsed
}
