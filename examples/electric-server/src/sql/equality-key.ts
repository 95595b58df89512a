import type { ColumnValue, PgType } from '../table/pg-types.ts'

/**
 * A where clause that is one `column = constant` test: the fanout routes a change to such a
 * shape by a map lookup of the row's value (shapes/table-shapes.ts) instead of evaluating it.
 */
export interface WhereEquality {
  readonly column: string
  readonly type: PgType
  /** equalityKey of the constant. */
  readonly key: string
}

/**
 * A text that two values of a column of `type` share exactly when the where subset's `=` holds
 * between them (where-compiler.ts), or undefined when there is none: numeric (`1.0 = 1.00`),
 * jsonb, NaN, and a value that is not of the type (an int8 held as a number past 2^53 too:
 * String() of it is not exact). String() of a finite number is exact, and -0 prints as 0. An
 * undefined key routes the change to every shape of the column.
 */
export function equalityKey(value: ColumnValue, type: PgType): string | undefined {
  switch (type) {
    case 'int8':
      if (typeof value === 'bigint' || Number.isSafeInteger(value)) return String(value)
      return undefined
    case 'float8':
      return typeof value === 'number' && !Number.isNaN(value) ? String(value) : undefined
    case 'text':
      return typeof value === 'string' ? value : undefined
    case 'bool':
      return typeof value === 'boolean' ? String(value) : undefined
    default:
      return undefined
  }
}
