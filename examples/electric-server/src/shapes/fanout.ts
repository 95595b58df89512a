import { encodeTransaction, type LogItem } from '@shapestore/engine'
import type { Change } from '../table/transaction.ts'
import { type Action, actionFor, changeItems } from './messages.ts'
import type { ShapeSpec } from './shape-spec.ts'

/** One shape's part of a transaction, as appendToLogs takes it. */
export interface FanoutEntry {
  readonly handle: string
  readonly items: readonly LogItem[]
}

/**
 * The log items transaction `tx` gives each shape of its table. Shapes that get the same
 * messages (same columns and replica, same action per change) share ONE items array, so the
 * engine validates it once and stores it once per partition (its shared-record layout).
 * Every distinct array is checked against the engine's limits here, before the caller commits
 * the transaction, so a fanout never fails for its size after the table state has moved on.
 * `txid` is the messages' `txids` entry: the transaction's own id (Postgres's xid), `tx` by default.
 */
export function planFanout(
  shapes: Iterable<readonly [string, ShapeSpec]>,
  tx: number,
  changes: readonly Change[],
  txid = tx,
): FanoutEntry[] {
  const entries: FanoutEntry[] = []
  const shared = new Map<string, LogItem[]>()
  for (const [handle, spec] of shapes) {
    const actions: Action[] = changes.map((change) => actionFor(spec, change))
    if (actions.every((action) => action === 'skip')) continue
    const signature = JSON.stringify([spec.columns, spec.replica, spec.relation, actions])
    let items = shared.get(signature)
    if (items === undefined) {
      items = changeItems(spec, tx, changes, actions, txid)
      encodeTransaction(items)
      shared.set(signature, items)
    }
    entries.push({ handle, items })
  }
  return entries
}
