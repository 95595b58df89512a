import type { LogItem } from '@shapestore/engine'
import { type Column, ownValue, PRIMARY_KEY, type Row, toPgText } from '../table/pg-types.ts'
import type { Change } from '../table/transaction.ts'
import type { ShapeSpec } from './shape-spec.ts'

/**
 * Electric's change messages for one shape (SRV log_items.ex): values in Postgres text form,
 * only the shape's columns, and a row moving into or out of the shape's where clause becomes
 * an insert or a delete for it. With replica `default` an update carries the key and the changed
 * columns and a delete only the key; with `full` both carry whole rows, an update also the
 * changed columns' previous values in `old_value`.
 */

/** The row's key: opaque to the client, unique per row of the table. */
export function rowKey(spec: ShapeSpec, id: string): string {
  return `${spec.table}/"${id.replaceAll('"', '""')}"`
}

/** A snapshot row: an insert with only `operation` and `relation` in its headers. */
export function snapshotMessage(spec: ShapeSpec, id: string, row: Row): string {
  return JSON.stringify({
    key: rowKey(spec, id),
    value: values(spec.columns, row),
    headers: { operation: 'insert', relation: spec.relation },
  })
}

/** What a change is for one shape. */
export type Action = 'skip' | 'insert' | 'update' | 'delete'

export function actionFor(spec: ShapeSpec, change: Change): Action {
  const wasIn = change.before !== null && (spec.where === null || spec.where.matches(change.before))
  const isIn = change.after !== null && (spec.where === null || spec.where.matches(change.after))
  if (!wasIn) return isIn ? 'insert' : 'skip'
  if (!isIn) return 'delete'
  // An update that changes none of the shape's columns is nothing to this shape.
  return changedColumns(spec, change).length > 0 ? 'update' : 'skip'
}

/**
 * The shape's log items for a transaction `tx`: the changes at `positions` (ascending) with their
 * `actions`, offsets `tx_i` with i the change's position in the transaction, `last` on the final one.
 */
export function changeItems(
  spec: ShapeSpec,
  tx: number,
  changes: readonly Change[],
  positions: readonly number[],
  actions: readonly Exclude<Action, 'skip'>[],
  txid = tx,
): LogItem[] {
  return positions.map((i, n) => {
    const change = changes[i] as Change
    const op = actions[n] as Exclude<Action, 'skip'>
    const message = {
      key: rowKey(spec, change.id),
      ...body(spec, change, op),
      headers: {
        operation: op,
        relation: spec.relation,
        lsn: String(tx),
        op_position: i,
        txids: [txid],
        ...(n === positions.length - 1 ? { last: true } : {}),
      },
    }
    return { offset: `${tx}_${i}`, key: message.key, op, json: JSON.stringify(message) }
  })
}

function body(spec: ShapeSpec, change: Change, op: Exclude<Action, 'skip'>): Record<string, unknown> {
  const before = change.before as Row
  const after = change.after as Row
  switch (op) {
    case 'insert':
      return { value: values(spec.columns, after) }
    case 'delete':
      return { value: spec.replica === 'full' ? values(spec.columns, before) : values(keyColumns(spec), before) }
    case 'update': {
      const changed = changedColumns(spec, change)
      if (spec.replica === 'full') {
        return { value: values(spec.columns, after), old_value: values(changed, before) }
      }
      return { value: values([...keyColumns(spec), ...changed], after) }
    }
  }
}

function keyColumns(spec: ShapeSpec): Column[] {
  return spec.columns.filter((column) => column.name === PRIMARY_KEY)
}

/** The shape's non-key columns whose text form differs between before and after. */
function changedColumns(spec: ShapeSpec, change: Change): Column[] {
  const before = change.before as Row
  const after = change.after as Row
  return spec.columns.filter(
    (column) =>
      column.name !== PRIMARY_KEY &&
      toPgText(ownValue(before, column.name), column.type) !== toPgText(ownValue(after, column.name), column.type),
  )
}

function values(columns: readonly Column[], row: Row): Record<string, string | null> {
  const out: Record<string, string | null> = {}
  for (const column of columns) out[column.name] = toPgText(ownValue(row, column.name), column.type)
  return out
}
