import {
  type Column,
  type ColumnValue,
  type PgType,
  PRIMARY_KEY,
  type Row,
  type TableSchema,
} from '../table/pg-types.ts'

/**
 * Postgres column types this example serves, by type OID, mapped onto its column types
 * (table/pg-types.ts: what the where subset compares and the client parses). int8 stays int8
 * (a bigint: exact); numeric stays numeric (its Postgres text: exact, as Electric serves it,
 * where a float8 would round it to 15-17 significant digits); the smaller integers and the
 * floats become float8 (exact for them); a table with a column of any other type is refused.
 */
const TYPES_BY_OID: ReadonlyMap<number, PgType> = new Map([
  [16, 'bool'],
  [20, 'int8'],
  [21, 'float8'], // int2
  [23, 'float8'], // int4
  [700, 'float8'], // float4
  [701, 'float8'],
  [1700, 'numeric'],
  [25, 'text'],
  [1043, 'text'], // varchar
  [1042, 'text'], // bpchar
  [2950, 'text'], // uuid
  [19, 'text'], // name
  [114, 'jsonb'], // json
  [3802, 'jsonb'],
])

export interface PgColumn {
  readonly name: string
  readonly typeOid: number
  /** Postgres's type modifier (atttypmod; -1: none): a numeric's precision and scale. */
  readonly typeMod: number
}

/** VARHDRSZ: Postgres stores a numeric's typmod as ((precision << 16) | scale) + 4. */
const NUMERIC_TYPMOD_OFFSET = 4

/**
 * numeric(p, s) from its typmod, as Postgres's numeric_typmod_precision/_scale read it (the
 * scale is 11 bits, signed since Postgres 15: numeric(3, -2)); null for an unconstrained numeric.
 */
export function numericTypmod(typeMod: number): { precision: number; scale: number } | null {
  if (typeMod < NUMERIC_TYPMOD_OFFSET) return null
  const bits = typeMod - NUMERIC_TYPMOD_OFFSET
  return { precision: (bits >> 16) & 0xffff, scale: ((bits & 0x7ff) ^ 1024) - 1024 }
}

/** The example's schema of a Postgres table: `id` first; an Error naming what does not fit. */
export function schemaOf(table: string, columns: readonly PgColumn[]): TableSchema {
  const schema: Column[] = columns.map(({ name, typeOid, typeMod }) => {
    const type = TYPES_BY_OID.get(typeOid)
    if (type === undefined)
      throw new Error(`${table}: column "${name}" has a type (oid ${typeOid}) this server does not serve`)
    const modifier = type === 'numeric' ? numericTypmod(typeMod) : null
    return modifier === null ? { name, type } : { name, type, ...modifier }
  })
  if (!schema.some((column) => column.name === PRIMARY_KEY)) {
    throw new Error(`${table}: the example serves tables with a primary key column "${PRIMARY_KEY}"`)
  }
  return schema.sort((a, b) => (a.name === PRIMARY_KEY ? -1 : b.name === PRIMARY_KEY ? 1 : 0))
}

/**
 * A row as node-postgres (or the replication decoder, which uses the same type parsers) gives
 * it, as the example's typed row. A value the decoder leaves undefined (an unchanged TOASTed
 * one it had no old row for) is left out, not taken for null.
 */
export function rowOf(schema: TableSchema, raw: Readonly<Record<string, unknown>>): Row {
  const row: Record<string, ColumnValue> = {}
  for (const { name, type } of schema) {
    const value = raw[name]
    if (value !== undefined) row[name] = columnValue(type, value)
  }
  return row
}

function columnValue(type: PgType, value: unknown): ColumnValue {
  if (value === null) return null
  switch (type) {
    case 'float8':
      return Number(value)
    case 'int8':
      // node-postgres gives int8 as its decimal text.
      return BigInt(value as string)
    case 'numeric':
      // node-postgres (pg-types registers no parser for numeric) gives numeric as Postgres's
      // text, NaN and ±Infinity included: kept as it is, never through a float.
      return String(value)
    case 'bool':
      return value === true || value === 't'
    case 'jsonb':
      // Already parsed by pg-types (json and jsonb alike): a JSON string is a string here, and
      // parsing it again would fail, or turn '"42"' into 42.
      return value as ColumnValue
    default:
      return String(value)
  }
}
