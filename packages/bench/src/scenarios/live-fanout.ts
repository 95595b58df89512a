import { performance } from 'node:perf_hooks'
import { type Engine, type LogItem, openEngine } from '@shapestore/engine'
import { metric, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'
import {
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
 * Live fanout: WAITERS callers long-polling one shape (engine.waitForOffset at its latest
 * offset, as a server holds one per connected client), then one 50-row append to that shape;
 * timed from the appendToLog call until every waiter has resolved (true), on the 2-writer
 * worker runtime. Median of REPEATS. Baseline in the same run: the same append with no waiter
 * (call -> resolve), alternating with the measured one, so `waiters_over_no_waiters` isolates
 * what waking the waiters costs on top of the commit; `wakeup_ms` is the difference of the
 * medians. Registering the waiters is not timed.
 *
 * Not a tinybench task: the commit runs on a writer thread.
 */
const WAITERS = 10_000
const REPEATS = 15
const RUNTIME = 'workers2' as const

export async function liveFanout(context: ScenarioContext): Promise<ScenarioResult> {
  const dir = scratchDir(context, 'live-fanout')
  const pool = rowPool(256)
  let nextTx = 1
  const withWaiters: number[] = []
  const appendWithWaiters: number[] = []
  const noWaiters: number[] = []
  try {
    const engine = await openEngine({ dir, runtime: RUNTIMES[RUNTIME]() })
    try {
      const { handle } = await engine.getOrCreateShape({ table: 'items' })
      await engine.makeNewSnapshot(handle, [])
      // Starts the writer thread and warms both paths.
      await engine.appendToLog(handle, transactionItems(nextTx++, pool))
      await wakeAll(engine, handle, transactionItems(nextTx++, pool))
      for (let repeat = 0; repeat < REPEATS; repeat++) {
        const woken = await wakeAll(engine, handle, transactionItems(nextTx++, pool))
        withWaiters.push(woken.allWokenMs)
        appendWithWaiters.push(woken.appendMs)
        const items = transactionItems(nextTx++, pool)
        await nextTurn()
        const start = performance.now()
        await engine.appendToLog(handle, items)
        noWaiters.push(performance.now() - start)
      }
      if (engine.stats().waiters !== 0) throw new Error(`${engine.stats().waiters} waiters left behind`)
    } finally {
      await engine.close()
    }
  } finally {
    removeDir(dir)
  }

  const wokenMs = median(withWaiters)
  const bareMs = median(noWaiters)
  return {
    scenario: 'live-fanout',
    parameters: {
      waiters: WAITERS,
      runtime: RUNTIME,
      repeats: REPEATS,
      rowBytes: ROW_BYTES,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      timed: 'appendToLog call -> every waitForOffset resolved',
      baseline: 'the same append with no waiter (call -> resolve)',
    },
    metrics: [
      metric('all_woken_ms', wokenMs, 'ms', '<= 20'),
      metric('all_woken_max_ms', Math.max(...withWaiters), 'ms'),
      metric('append_with_waiters_ms', median(appendWithWaiters), 'ms'),
      metric('append_no_waiters_ms', bareMs, 'ms'),
      metric('wakeup_ms', wokenMs - bareMs, 'ms'),
      metric('wakeup_per_waiter_us', ((wokenMs - bareMs) * 1000) / WAITERS, 'µs'),
    ],
    ratios: [ratio('waiters_over_no_waiters', wokenMs / bareMs)],
  }
}

/**
 * Registers WAITERS waits at the shape's latest offset, lets them settle in, then appends:
 * resolves the ms from the append call until the last waiter resolved, and until the append
 * itself resolved.
 */
async function wakeAll(
  engine: Engine,
  handle: string,
  items: readonly LogItem[],
): Promise<{ allWokenMs: number; appendMs: number }> {
  const at = engine.fetchLatestOffset(handle)
  const waits = Array.from({ length: WAITERS }, () => engine.waitForOffset(handle, at))
  await nextTurn()
  if (engine.stats().waiters !== WAITERS)
    throw new Error(`${engine.stats().waiters} waiters registered, not ${WAITERS}`)
  let appendMs = Number.NaN
  const start = performance.now()
  const appended = engine.appendToLog(handle, items).then(() => {
    appendMs = performance.now() - start
  })
  const results = await Promise.all(waits)
  const allWokenMs = performance.now() - start
  await appended
  if (!results.every((moved) => moved)) throw new Error('a waiter timed out')
  return { allWokenMs, appendMs }
}
