import { EngineError, ErrorCode, encodeTransaction, type LogItem, type ShapeHandle } from '@shapestore/engine'
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
 * A part over the engine's limits throws its TOO_LARGE, unless `onTooLarge` is given: then each
 * shape of that part is handed to it and left out (a replicated transaction cannot be refused).
 */
export function planFanout(
  shapes: TableShapes,
  specOf: (handle: ShapeHandle) => ShapeSpec | undefined,
  tx: number,
  changes: readonly Change[],
  txid = tx,
  onTooLarge?: (handle: ShapeHandle) => void,
): FanoutEntry[] {
  // Each shape's changes, sparse (the changes it takes, in order): a transaction touching a few
  // indexed shapes each costs what they take, not shapes × changes.
  const planned = new Map<ShapeHandle, Planned>()
  for (const handle of shapes.unindexed()) {
    const spec = specOf(handle)
    if (spec === undefined) continue
    const shape = newPlanned(spec)
    for (let i = 0; i < changes.length; i++) take(shape, i, changes[i] as Change)
    if (shape.positions.length > 0) planned.set(handle, shape)
  }
  changes.forEach((change, i) => {
    for (const handle of shapes.indexedCandidates(change)) {
      let shape = planned.get(handle)
      if (shape === undefined) {
        const spec = specOf(handle)
        if (spec === undefined) continue
        shape = newPlanned(spec)
        planned.set(handle, shape)
      }
      // A candidate named twice for one change takes it once.
      if (shape.positions.at(-1) !== i) take(shape, i, change)
    }
  })
  const entries: FanoutEntry[] = []
  // By messages key, then by the changes taken: the key is one string per spec, whose hash V8
  // keeps, where one long string of both was hashed anew for every shape.
  const shared = new Map<string, Map<string, LogItem[] | null>>()
  for (const [handle, shape] of planned) {
    if (shape.positions.length === 0) continue
    let byChanges = shared.get(shape.spec.messagesKey)
    if (byChanges === undefined) {
      byChanges = new Map()
      shared.set(shape.spec.messagesKey, byChanges)
    }
    const taken = takenOf(shape, changes.length)
    let items = byChanges.get(taken)
    if (items === undefined) {
      items = changeItems(shape.spec, tx, changes, shape.positions, shape.actions, txid)
      try {
        encodeTransaction(items)
      } catch (error) {
        if (onTooLarge === undefined || !(error instanceof EngineError && error.code === ErrorCode.TOO_LARGE))
          throw error
        items = null
      }
      byChanges.set(taken, items)
    }
    if (items === null) onTooLarge?.(handle)
    else entries.push({ handle, items })
  }
  return entries
}

/** The changes one shape takes: positions in the transaction, ascending, and the action of each. */
interface Planned {
  readonly spec: ShapeSpec
  readonly positions: number[]
  readonly actions: Exclude<Action, 'skip'>[]
  /** Every change so far went to the shape as it is (its action is the change's op). */
  asIs: boolean
}

function newPlanned(spec: ShapeSpec): Planned {
  return { spec, positions: [], actions: [], asIs: true }
}

function take(shape: Planned, i: number, change: Change): void {
  const action = actionFor(shape.spec, change)
  if (action === 'skip') return
  shape.positions.push(i)
  shape.actions.push(action)
  if (action !== change.op) shape.asIs = false
}

/**
 * The changes a shape takes with their actions, as a string: two shapes with the same messages
 * key and the same string get the same messages. A wide fanout's common case, every change as
 * it is, has a one-character one.
 */
function takenOf(shape: Planned, changeCount: number): string {
  if (shape.asIs && shape.positions.length === changeCount) return '*'
  let taken = ''
  for (let n = 0; n < shape.positions.length; n++) taken += `${shape.positions[n]}${shape.actions[n]},`
  return taken
}
