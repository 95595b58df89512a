import { canonicalShape, type ShapeDefinition } from '@shapestore/engine'
import { ColumnsParamError, parseColumnsParam } from '../sql/columns-param.ts'
import { type CompiledWhere, compileWhere } from '../sql/where-compiler.ts'
import { WhereSyntaxError } from '../sql/where-parser.ts'
import { type Column, PRIMARY_KEY, type TableSchema } from '../table/pg-types.ts'

/**
 * A shape as this server runs it: the engine's definition (with the where clause in its
 * canonical text) plus what the fanout and the responses need: the compiled where clause, the
 * selected columns in schema order, and the relation for message headers.
 */
export interface ShapeSpec {
  readonly definition: ShapeDefinition
  /** Equal for two requests exactly when they are the same shape (the engine's canonical form). */
  readonly key: string
  /** Canonical table name, `"schema"."name"`. */
  readonly table: string
  readonly relation: readonly [string, string]
  readonly where: CompiledWhere | null
  readonly columns: readonly Column[]
  /** True when the request named its columns (the definition then carries them). */
  readonly columnsSelected: boolean
  readonly replica: 'default' | 'full'
  /** Equal for two shapes exactly when a change gives them the same messages (fanout.ts). */
  readonly messagesKey: string
}

/** The shape-defining request parameters, as strings from the query. */
export interface ShapeParams {
  readonly table: string
  readonly where?: string | undefined
  readonly columns?: string | undefined
  readonly replica?: 'default' | 'full' | undefined
  readonly params?: ReadonlyMap<number, string> | undefined
}

/** An invalid shape parameter: Electric answers 400 with `errors[field]`. */
export class ShapeParamError extends Error {
  override readonly name = 'ShapeParamError'
  readonly field: string

  constructor(field: string, message: string) {
    super(message)
    this.field = field
  }
}

/** Canonical `"schema"."name"` of a table name; ShapeParamError('table') when malformed. */
export function canonicalTableName(table: string): string {
  try {
    return canonicalShape({ table }).table
  } catch (error) {
    throw new ShapeParamError('table', error instanceof Error ? error.message : String(error))
  }
}

/** `["schema", "name"]` of a canonical `"schema"."name"`. */
export function relationOf(canonicalTable: string): [string, string] {
  const match = /^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$/.exec(canonicalTable)
  if (match === null) throw new Error(`not a canonical table name: ${canonicalTable}`)
  return [(match[1] as string).replaceAll('""', '"'), (match[2] as string).replaceAll('""', '"')]
}

/** Builds the spec of a shape on a table whose current schema is `schema`. */
export function shapeSpec(params: ShapeParams, table: string, schema: TableSchema): ShapeSpec {
  let where: CompiledWhere | null = null
  const whereText = params.where?.trim() ?? ''
  if (whereText.length > 0) {
    try {
      where = compileWhere(whereText, schema, params.params)
    } catch (error) {
      if (error instanceof WhereSyntaxError) throw new ShapeParamError('where', error.message)
      throw error
    }
  }
  const selected = params.columns === undefined ? null : selectColumns(params.columns, schema)
  const replica = params.replica ?? 'default'
  const definition: ShapeDefinition = {
    table,
    ...(where === null ? {} : { where: where.canonical }),
    ...(selected === null ? {} : { columns: selected.map((column) => column.name) }),
    replica,
  }
  let canonical: ReturnType<typeof canonicalShape>
  try {
    canonical = canonicalShape(definition)
  } catch (error) {
    throw new ShapeParamError(selected === null ? 'where' : 'columns', (error as Error).message)
  }
  const relation = relationOf(table)
  const columns = selected ?? schema
  return {
    definition,
    key: JSON.stringify(canonical),
    table,
    relation,
    where,
    columns,
    columnsSelected: selected !== null,
    replica,
    messagesKey: JSON.stringify([columns, replica, relation]),
  }
}

function selectColumns(text: string, schema: TableSchema): Column[] {
  let names: string[]
  try {
    names = parseColumnsParam(text)
  } catch (error) {
    if (error instanceof ColumnsParamError) throw new ShapeParamError('columns', error.message)
    throw error
  }
  const wanted = new Set(names)
  if (wanted.size !== names.length) throw new ShapeParamError('columns', 'a column is listed twice')
  for (const name of wanted) {
    if (!schema.some((column) => column.name === name)) {
      throw new ShapeParamError('columns', `unknown column "${name}"`)
    }
  }
  if (!wanted.has(PRIMARY_KEY)) {
    throw new ShapeParamError(
      'columns',
      `The list of columns must include all primary key columns, missing: ${PRIMARY_KEY}`,
    )
  }
  return schema.filter((column) => wanted.has(column.name))
}
