/**
 * Column types and Postgres text encoding. The example has no DDL: a table's columns and their
 * types come from the JSON values written into it (README, "Tables"). Every type maps to one
 * the official client parses: float8 → Number, int8 → BigInt, bool → boolean, jsonb →
 * JSON.parse, text and numeric stay strings. JSON numbers become float8 (not int8) so ids parse
 * to plain numbers, exact up to 2^53, instead of BigInt; int8 and numeric come only from
 * Postgres: a bigint column is held as a bigint so ids past 2^53 stay exact, a numeric column
 * as the text Postgres prints (exact, as Electric serves it; the where subset compares it as a
 * decimal, src/sql/numeric.ts).
 */

export type PgType = 'text' | 'float8' | 'int8' | 'numeric' | 'bool' | 'jsonb'

/**
 * A column value: what a JSON row may hold, or a bigint (int8, from Postgres only). A numeric
 * value is a string, its Postgres text.
 */
export type ColumnValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | { readonly [key: string]: unknown }
  | readonly unknown[]

export type Row = Readonly<Record<string, ColumnValue>>

/**
 * The row's value of column `name`; undefined when it has none. Own properties only: a row is a
 * plain object, and a column named `constructor` or `valueOf` would otherwise read
 * Object.prototype's function where the row has no value (a NULL that was not).
 */
export function ownValue(row: Row | null | undefined, name: string): ColumnValue | undefined {
  return row != null && Object.hasOwn(row, name) ? row[name] : undefined
}

export interface Column {
  readonly name: string
  readonly type: PgType
  /** numeric(precision, scale) columns (Postgres only): sent in the schema header, as Electric does. */
  readonly precision?: number
  readonly scale?: number
}

/** A table's columns in the order they first appeared; `id` (the primary key) is first. */
export type TableSchema = readonly Column[]

export const PRIMARY_KEY = 'id'

/** The type a non-null JSON value implies. */
export function typeOfValue(value: Exclude<ColumnValue, null>): PgType {
  switch (typeof value) {
    case 'string':
      return 'text'
    case 'number':
      return 'float8'
    case 'bigint':
      return 'int8'
    case 'boolean':
      return 'bool'
    default:
      return 'jsonb'
  }
}

/** A value in Postgres text format, as Electric sends it; null stays null. */
export function toPgText(value: ColumnValue | undefined, type?: PgType): string | null {
  if (value === null || value === undefined) return null
  // A jsonb value's text is its JSON, scalars included: "urgent" (quoted), 42, true.
  if (type === 'jsonb') return JSON.stringify(value)
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
      return pgFloat8(value)
    case 'bigint':
      return String(value)
    case 'boolean':
      return value ? 't' : 'f'
    default:
      return JSON.stringify(value)
  }
}

/** float8 output: Postgres prints integers without a fraction and large ones in exponent form, like JS. */
function pgFloat8(value: number): string {
  if (Object.is(value, -0)) return '-0'
  return String(value)
}

/** The `electric-schema` header entry of a column. */
export function schemaEntry({ name, type, precision, scale }: Column): Record<string, unknown> {
  const modifier = precision === undefined ? {} : { precision, scale }
  if (name === PRIMARY_KEY) return { type, ...modifier, pk_index: 0, not_null: true }
  return { type, ...modifier }
}
