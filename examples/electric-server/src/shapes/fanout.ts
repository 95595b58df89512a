import { encodeTransaction, type LogItem, type ShapeHandle } from '@shapestore/engine'
import type { Change } from '../table/transaction.ts'
import { type Action, actionFor, changeItems } from './messages.ts'
import type { ShapeSpec } from './shape-spec.ts'
import type { TableShapes } from './table-shapes.ts'

/** One shape's part of a transaction, as appendToLogs takes it. */
export interface FanoutEntry {
  readonly handle: string
  readonly items: readonly LogItem[]
}

/**
 * The log items transaction `tx` gives each shape of its table: each change is evaluated against
 * the table's unindexed shapes and the indexed ones its index names for the change
 * (TableShapes); `specOf` gives a shape's spec, undefined for one that must not be written.
 * Shapes that get the same messages (same columns and replica, same action per change) share
 * ONE items array, so the engine validates it once and stores it once per partition (its
 * shared-record layout).
 * Every distinct array is checked against the engine's limits here, before the caller commits
 * the transaction, so a fanout never fails for its size after the table state has moved on.
 * `txid` is the messages' `txids` entry: the transaction's own id (Postgres's xid), `tx` by default.
 */
export function planFanout(
  shapes: TableShapes,
  specOf: (handle: ShapeHandle) => ShapeSpec | undefined,
  tx: number,
  changes: readonly Change[],
  txid = tx,
): FanoutEntry[] {
  const planned = new Map<ShapeHandle, { spec: ShapeSpec; actions: Action[] }>()
  for (const handle of shapes.unindexed()) {
    const spec = specOf(handle)
    if (spec !== undefined) planned.set(handle, { spec, actions: changes.map((change) => actionFor(spec, change)) })
  }
  changes.forEach((change, i) => {
    for (const handle of shapes.indexedCandidates(change)) {
      let shape = planned.get(handle)
      if (shape === undefined) {
        const spec = specOf(handle)
        if (spec === undefined) continue
        shape = { spec, actions: new Array<Action>(changes.length).fill('skip') }
        planned.set(handle, shape)
      }
      shape.actions[i] = actionFor(shape.spec, change)
    }
  })
  const entries: FanoutEntry[] = []
  const shared = new Map<string, LogItem[]>()
  for (const [handle, { spec, actions }] of planned) {
    if (actions.every((action) => action === 'skip')) continue
    const signature = `${spec.messagesKey}${actions.join()}`
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
