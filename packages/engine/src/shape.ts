import { createHash } from 'node:crypto'
import { EngineError, ErrorCode } from './errors.ts'
import { COLUMN_NAME_BYTES_MAX, COLUMNS_MAX, TABLE_NAME_BYTES_MAX, WHERE_BYTES_MAX } from './limits.ts'

/** A shape: a live query over one table, as a caller describes it. */
export interface ShapeDefinition {
  /** `name` or `schema.name`; unquoted parts fold to lower case, `"Quoted"` parts are kept. */
  readonly table: string
  /** A where clause, stored as given (trimmed); the engine does not evaluate it. */
  readonly where?: string | undefined
  /** Selected columns; order does not matter. Absent means all columns. */
  readonly columns?: readonly string[] | undefined
  /** Electric's replica mode. Default 'default'. */
  readonly replica?: 'default' | 'full' | undefined
}

/**
 * The canonical form: every definition of the same shape maps to the same value, field by
 * field, so it is what the catalog stores and what lookups compare.
 */
export interface CanonicalShape {
  /** `"schema"."name"`, always quoted and qualified. */
  readonly table: string
  readonly where: string | null
  /** Sorted, without duplicates; null for all columns. */
  readonly columns: readonly string[] | null
  readonly replica: 'default' | 'full'
}

const IDENTIFIER = String.raw`(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"\u0000]|"")+")`
const TABLE_NAME = new RegExp(`^(${IDENTIFIER})(?:\\.(${IDENTIFIER}))?$`)

export function canonicalShape(def: ShapeDefinition): CanonicalShape {
  if (!isPlainObject(def)) invalid('a shape definition must be a plain object')
  for (const key of Object.keys(def)) {
    if (key !== 'table' && key !== 'where' && key !== 'columns' && key !== 'replica') {
      invalid(`unknown shape field ${JSON.stringify(key)}`)
    }
  }
  return {
    table: canonicalTable(def.table),
    where: canonicalWhere(def.where),
    columns: canonicalColumns(def.columns),
    replica: canonicalReplica(def.replica),
  }
}

/**
 * Definitions come from clients (parsed JSON): only a plain object's own fields count, so an
 * inherited or prototype-polluted `table` can never define a shape.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** The string two definitions share exactly when they are the same shape. */
export function shapeKey(shape: CanonicalShape): string {
  return JSON.stringify([shape.table, shape.where, shape.columns, shape.replica])
}

/** A fixed-size digest of the shape key, used as the LMDB lookup key (keys are ≤ 1978 bytes). */
export function shapeDigest(shape: CanonicalShape): string {
  return createHash('sha256').update(shapeKey(shape)).digest('hex')
}

/** The public definition of a canonical shape (what fetchShapeByHandle returns). */
export function toDefinition(shape: CanonicalShape): ShapeDefinition {
  return {
    table: shape.table,
    ...(shape.where === null ? {} : { where: shape.where }),
    ...(shape.columns === null ? {} : { columns: [...shape.columns] }),
    replica: shape.replica,
  }
}

/** The last table name canonicalTable answered for, and its answer (see there); none at first. */
let lastTable: unknown = Symbol('none')
let lastCanonicalTable = ''

/**
 * The canonical `"schema"."name"` of a table name; also used for listShapes' table filter.
 * The last answer is kept: a server loading or creating many shapes names the same table over
 * and over, and the regex, unquoting and quoting cost more than the rest of canonicalShape.
 */
export function canonicalTable(table: unknown): string {
  if (table === lastTable) return lastCanonicalTable
  const canonical = canonicalTableOf(table)
  lastTable = table
  lastCanonicalTable = canonical
  return canonical
}

function canonicalTableOf(table: unknown): string {
  if (typeof table !== 'string' || table.length === 0) invalid('shape.table must be a non-empty string')
  if (Buffer.byteLength(table) > TABLE_NAME_BYTES_MAX) invalid(`shape.table is over ${TABLE_NAME_BYTES_MAX} bytes`)
  const match = TABLE_NAME.exec(table)
  if (match === null) invalid(`shape.table is not [schema.]name: ${JSON.stringify(table)}`)
  const [first, second] = [match[1] as string, match[2]]
  const schema = second === undefined ? 'public' : unquote(first)
  const name = unquote(second ?? first)
  return `${quote(schema)}.${quote(name)}`
}

function unquote(identifier: string): string {
  if (identifier.startsWith('"')) return identifier.slice(1, -1).replaceAll('""', '"')
  return identifier.toLowerCase()
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

function canonicalWhere(where: unknown): string | null {
  if (where === undefined || where === null) return null
  if (typeof where !== 'string') invalid('shape.where must be a string')
  const trimmed = where.trim()
  if (trimmed.length === 0) return null
  if (trimmed.includes('\u0000')) invalid('shape.where contains a NUL character')
  if (Buffer.byteLength(trimmed) > WHERE_BYTES_MAX) invalid(`shape.where is over ${WHERE_BYTES_MAX} bytes`)
  return trimmed
}

function canonicalColumns(columns: unknown): readonly string[] | null {
  if (columns === undefined || columns === null) return null
  if (!Array.isArray(columns)) invalid('shape.columns must be an array of strings')
  if (columns.length === 0) invalid('shape.columns must not be empty (omit it for all columns)')
  if (columns.length > COLUMNS_MAX) invalid(`shape.columns has more than ${COLUMNS_MAX} columns`)
  const seen = new Set<string>()
  for (const column of columns) {
    if (typeof column !== 'string' || column.length === 0) invalid('shape.columns must hold non-empty strings')
    if (column.includes('\u0000')) invalid('a column name contains a NUL character')
    if (Buffer.byteLength(column) > COLUMN_NAME_BYTES_MAX) {
      invalid(`column ${JSON.stringify(column.slice(0, 80))} is over ${COLUMN_NAME_BYTES_MAX} bytes`)
    }
    if (seen.has(column)) invalid(`column ${JSON.stringify(column)} is selected twice`)
    seen.add(column)
  }
  return [...seen].sort()
}

function canonicalReplica(replica: unknown): 'default' | 'full' {
  if (replica === undefined || replica === null || replica === 'default') return 'default'
  if (replica === 'full') return 'full'
  invalid(`shape.replica must be 'default' or 'full', got ${JSON.stringify(replica)}`)
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_SHAPE, message)
}
