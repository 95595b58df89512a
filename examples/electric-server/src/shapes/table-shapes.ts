import type { ShapeHandle } from '@shapestore/engine'
import { equalityKey, type WhereEquality } from '../sql/equality-key.ts'
import { type ColumnValue, ownValue, type PgType } from '../table/pg-types.ts'
import type { Change } from '../table/transaction.ts'

/**
 * The shapes of one equality-tested column, by the key of their constant: one handle, or a set
 * when several shapes test the same value (most keys have one shape: no set for them).
 */
interface ColumnIndex {
  readonly type: PgType
  readonly byKey: Map<string, ShapeHandle | Set<ShapeHandle>>
}

/**
 * The shapes of one table, indexed for the fanout (Electric's shape filter does the same): a
 * shape whose where clause is one `column = constant` test is found by a lookup of a changed
 * row's value in that column; every other shape (unindexed) is evaluated for every change. So a
 * transaction costs its changes' lookups plus the unindexed shapes, not every shape of the
 * table, and a restart indexes a table's shapes without compiling their where clauses.
 */
export class TableShapes {
  /** Every shape, with its equality (null: unindexed), for its removal. */
  readonly #all = new Map<ShapeHandle, WhereEquality | null>()
  readonly #unindexed = new Set<ShapeHandle>()
  readonly #columns = new Map<string, ColumnIndex>()

  handles(): IterableIterator<ShapeHandle> {
    return this.#all.keys()
  }

  add(handle: ShapeHandle, equality: WhereEquality | null): void {
    this.delete(handle)
    this.#all.set(handle, equality)
    if (equality === null) {
      this.#unindexed.add(handle)
      return
    }
    let column = this.#columns.get(equality.column)
    if (column === undefined) {
      column = { type: equality.type, byKey: new Map() }
      this.#columns.set(equality.column, column)
    }
    const shapes = column.byKey.get(equality.key)
    if (shapes === undefined) column.byKey.set(equality.key, handle)
    else if (typeof shapes === 'string') column.byKey.set(equality.key, new Set([shapes, handle]))
    else shapes.add(handle)
  }

  delete(handle: ShapeHandle): void {
    const equality = this.#all.get(handle)
    if (equality === undefined) return
    this.#all.delete(handle)
    if (equality === null) {
      this.#unindexed.delete(handle)
      return
    }
    const column = this.#columns.get(equality.column) as ColumnIndex
    const shapes = column.byKey.get(equality.key)
    if (typeof shapes === 'string' || (shapes?.delete(handle) && shapes.size === 0)) column.byKey.delete(equality.key)
    if (column.byKey.size === 0) this.#columns.delete(equality.column)
  }

  /** The shapes every change is evaluated against. */
  unindexed(): ReadonlySet<ShapeHandle> {
    return this.#unindexed
  }

  /**
   * The indexed shapes the change may concern (its row before or after may be in it), some more
   * than once; the caller evaluates each. A row value with no exact key (a type the index does
   * not key) makes every shape of that column a candidate.
   */
  *indexedCandidates(change: Change): Iterable<ShapeHandle> {
    for (const [name, column] of this.#columns) {
      const before = keyOf(ownValue(change.before, name), column.type)
      const after = keyOf(ownValue(change.after, name), column.type)
      if (before === ANY || after === ANY) {
        for (const shapes of column.byKey.values()) yield* each(shapes)
        continue
      }
      if (before !== null) yield* each(column.byKey.get(before))
      if (after !== null && after !== before) yield* each(column.byKey.get(after))
    }
  }
}

function each(shapes: ShapeHandle | Set<ShapeHandle> | undefined): Iterable<ShapeHandle> {
  if (shapes === undefined) return []
  return typeof shapes === 'string' ? [shapes] : shapes
}

/** A key no value has: the row's value could equal any constant. */
const ANY = Symbol('any')

/** null when the row is absent or its value is null (no `=` test holds for it). */
function keyOf(value: ColumnValue | undefined, type: PgType): string | null | typeof ANY {
  if (value === undefined || value === null) return null
  return equalityKey(value, type) ?? ANY
}
