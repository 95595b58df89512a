import { performance } from 'node:perf_hooks'
import type { Engine, LogItem } from '@shapestore/engine'
import { nextTurn } from './workload.ts'

/** What write-fanout.ts and the probe it runs per runtime share. */
export const FANOUTS = [100, 500, 1_500, 3_100] as const
export const PARTITIONS = 8
/** Timed calls per (layout, N) in one probe process. */
export const REPEATS = 5

export type Layout = 'shared' | 'distinct'

/**
 * One appendToLogs of `items` into every shape of `handles`: the same array (shared) or a copy
 * per shape (distinct, built before the clock starts). Returns the ms until it resolved, after
 * checking that every shape's latest offset is now the transaction's last row.
 */
export async function fanout(
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
