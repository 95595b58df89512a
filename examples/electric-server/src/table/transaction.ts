import {
  type Column,
  type ColumnValue,
  type PgType,
  PRIMARY_KEY,
  type Row,
  type TableSchema,
  toPgText,
  typeOfValue,
} from './pg-types.ts'

/**
 * Plans one write transaction against the current table state, Postgres-style, without writing
 * anything: a bad op rejects the whole transaction. `insert` of an existing id fails (a unique
 * violation); `update` merges the given columns into the row; `update` and `delete` of a
 * missing id change nothing (zero rows affected). Column types are fixed by the first non-null
 * value a column gets; a column first seen in this transaction widens the table's schema.
 */

export type OpKind = 'insert' | 'update' | 'delete'

/** One row change of a committed transaction: what the fanout turns into shape log entries. */
export interface Change {
  readonly op: OpKind
  /** The primary key in Postgres text form: the row's storage key and its Electric key. */
  readonly id: string
  readonly before: Row | null
  readonly after: Row | null
}

export interface PlannedTransaction {
  readonly changes: readonly Change[]
  /** The table's schema after the transaction. */
  readonly schema: TableSchema
  /** True when the transaction added columns: existing shapes of the table must be rotated. */
  readonly schemaChanged: boolean
}

/** A rejected write; `status` 400 for malformed input, 409 for a constraint violation. */
export class WriteError extends Error {
  override readonly name = 'WriteError'
  readonly status: 400 | 409
  readonly field: string

  constructor(status: 400 | 409, field: string, message: string) {
    super(message)
    this.status = status
    this.field = field
  }
}

/** Ops in one transaction. */
export const OPS_MAX = 10_000
/** Bytes of an id's text form: it is part of an LMDB key (at most 1,978 bytes). */
export const ID_BYTES_MAX = 1_024
/** Bytes of a column name (Postgres identifiers). */
export const COLUMN_NAME_BYTES_MAX = 63
/** Columns of one table (Postgres's limit). */
export const COLUMNS_MAX = 1_600

interface Op {
  readonly op: OpKind
  readonly row: Row
}

/** Checks the request body's shape: `{ ops: [{ op, row: { id, ... } }, ...] }`. */
export function validateOps(body: unknown): Op[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new WriteError(400, 'body', 'the body must be a JSON object { "ops": [...] }')
  }
  const ops = (body as { ops?: unknown }).ops
  if (!Array.isArray(ops) || ops.length === 0) throw new WriteError(400, 'ops', 'ops must be a non-empty array')
  if (ops.length > OPS_MAX) throw new WriteError(400, 'ops', `more than ${OPS_MAX} ops in one transaction`)
  return ops.map((entry: unknown, i) => {
    const field = `ops[${i}]`
    if (typeof entry !== 'object' || entry === null) throw new WriteError(400, field, 'an op must be an object')
    const { op, row } = entry as { op?: unknown; row?: unknown }
    if (op !== 'insert' && op !== 'update' && op !== 'delete') {
      throw new WriteError(400, `${field}.op`, 'op must be "insert", "update" or "delete"')
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new WriteError(400, `${field}.row`, 'row must be an object')
    }
    const values = Object.entries(row)
    for (const [name, value] of values) checkColumn(`${field}.row`, name, value)
    // -0 is taken as 0: the store keeps it as 0 (msgpack), and Postgres's float8 -0 = 0, so a
    // row written with id -0 had the key "-0" in its changes and "0" in every later snapshot.
    // A copy only then: this runs for every row written.
    const cleaned = values.some(([, value]) => Object.is(value, -0))
      ? (Object.fromEntries(values.map(([name, value]) => [name, Object.is(value, -0) ? 0 : value])) as Row)
      : (row as Row)
    const id = cleaned[PRIMARY_KEY]
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new WriteError(400, `${field}.row.id`, 'row.id (the primary key) must be a string or a number')
    }
    if (Buffer.byteLength(String(id)) > ID_BYTES_MAX) {
      throw new WriteError(400, `${field}.row.id`, `row.id is over ${ID_BYTES_MAX} bytes`)
    }
    return { op, row: cleaned }
  })
}

function checkColumn(field: string, name: string, value: unknown): void {
  if (name.length === 0 || name.includes('\u0000') || Buffer.byteLength(name) > COLUMN_NAME_BYTES_MAX) {
    throw new WriteError(400, field, `invalid column name ${JSON.stringify(name.slice(0, 80))}`)
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new WriteError(400, `${field}.${name}`, 'numbers must be finite')
  }
}

/**
 * Plans `ops` on a table whose rows `lookup` reads (by id text) and whose schema is `schema`
 * (undefined for a table never written). Later ops see earlier ones' effects.
 */
export function planTransaction(
  ops: readonly Op[],
  schema: TableSchema | undefined,
  lookup: (id: string) => Row | undefined,
): PlannedTransaction {
  const columns = new Map<string, PgType>((schema ?? []).map((column) => [column.name, column.type]))
  const added: Column[] = []
  const current = new Map<string, Row | null>()
  const changes: Change[] = []
  ops.forEach(({ op, row }, i) => {
    const id = toPgText(row[PRIMARY_KEY] as string | number) as string
    const before = current.has(id) ? (current.get(id) as Row | null) : (lookup(id) ?? null)
    // Only a row that is written adds columns: a delete's other columns, or an update of a row
    // that does not exist, used to add one no row has, which rotated every shape of the table.
    const writesRow = op === 'insert' || (op === 'update' && before !== null)
    for (const [name, value] of Object.entries(row)) {
      if (value === null) continue
      const type = typeOfValue(value as Exclude<ColumnValue, null>)
      const known = columns.get(name)
      if (known === undefined) {
        if (!writesRow) continue
        columns.set(name, type)
        added.push({ name, type })
      } else if (known !== type) {
        throw new WriteError(400, `ops[${i}].row.${name}`, `column "${name}" is ${known}, got a ${type} value`)
      }
    }
    let after: Row | null
    if (op === 'insert') {
      if (before !== null) throw new WriteError(409, `ops[${i}]`, `a row with id ${id} already exists`)
      after = { ...row }
    } else if (op === 'update') {
      if (before === null) return
      after = { ...before, ...row }
    } else {
      if (before === null) return
      after = null
    }
    current.set(id, after)
    changes.push({ op, id, before, after })
  })
  if (added.length + (schema?.length ?? 0) > COLUMNS_MAX) {
    throw new WriteError(400, 'ops', `a table has at most ${COLUMNS_MAX} columns`)
  }
  // The primary key leads the schema; other columns keep their order of first appearance.
  const ordered = [...(schema ?? []), ...added].sort((a, b) => rank(a) - rank(b))
  return { changes, schema: ordered, schemaChanged: schema !== undefined && added.length > 0 }
}

function rank(column: Column): number {
  return column.name === PRIMARY_KEY ? 0 : 1
}
