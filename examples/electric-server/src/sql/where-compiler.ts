import { type Column, type ColumnValue, ownValue, type PgType, type Row, type TableSchema } from '../table/pg-types.ts'
import { equalityKey, type WhereEquality } from './equality-key.ts'
import { compareNumeric, type Numeric, numericText, parseNumeric } from './numeric.ts'
import { type ComparisonOp, type Literal, parseWhere, type WhereAst, WhereSyntaxError } from './where-parser.ts'

/**
 * A where clause checked against a table's columns, with its `$n` parameters bound: it can
 * test rows, and it renders to one canonical text (parameters inlined as typed literals, every
 * compound operand parenthesised) so that two spellings of the same clause are one shape, and
 * the stored text parses back to the same clause after a restart.
 */
export interface CompiledWhere {
  readonly canonical: string
  /** SQL semantics: a row is in the shape only when the clause is true (not false, not null). */
  matches(row: Row): boolean
  /** Set when the clause is one `column = constant` test the fanout can route by value. */
  readonly equality: WhereEquality | null
}

/**
 * A typed constant: a comparison is only ever between a column and a value of its own type.
 * A numeric column's constants are Numeric (the only object among them); its row values are
 * Postgres's text, parsed when compared.
 */
type Constant = string | number | bigint | boolean | Numeric

type Node =
  | { readonly kind: 'and' | 'or'; readonly left: Node; readonly right: Node }
  | { readonly kind: 'not'; readonly operand: Node }
  | { readonly kind: 'compare'; readonly op: ComparisonOp; readonly column: Column; readonly value: Constant }
  | { readonly kind: 'is-null'; readonly column: Column; readonly negated: boolean }
  | { readonly kind: 'in'; readonly column: Column; readonly values: readonly Constant[]; readonly negated: boolean }

export function compileWhere(
  source: string,
  schema: TableSchema,
  params: ReadonlyMap<number, string> = new Map(),
): CompiledWhere {
  const node = bind(parseWhere(source), schema, params)
  return { canonical: render(node), matches: (row) => evaluate(node, row) === true, equality: equalityOf(node) }
}

/**
 * compileWhere(source, schema).equality without the rest of the compilation: a restart loads a
 * table's shapes this way (their stored canonical text). Null also when the text no longer
 * compiles against the schema: compiling it when the shape is first met says so.
 */
export function whereEquality(source: string, schema: TableSchema): WhereEquality | null {
  const canonical = canonicalEquality(source, schema)
  if (canonical !== undefined) return canonical
  try {
    return equalityOf(bind(parseWhere(source), schema, new Map()))
  } catch (error) {
    if (error instanceof WhereSyntaxError) return null
    throw error
  }
}

/**
 * The text render() gives one `column = constant` test: a quoted identifier, ` = `, and a
 * constant as literal() writes it (a quoted string, TRUE/FALSE, or String() of a number).
 */
const CANONICAL_EQUALITY = /^"((?:[^"]|"")+)" = (?:'((?:[^']|'')*)'|(TRUE|FALSE)|(-?[0-9][0-9.e+-]*))$/

/**
 * whereEquality of a text in that exact form, read back without the parser (a restart reads
 * 50,000 of them); undefined for any other text, or a form it does not key (the parser decides).
 */
function canonicalEquality(source: string, schema: TableSchema): WhereEquality | undefined {
  const match = CANONICAL_EQUALITY.exec(source)
  if (match === null) return undefined
  const [, name, text, bool, number] = match
  const column = schema.find((candidate) => candidate.name === (name as string).replaceAll('""', '"'))
  let value: ColumnValue
  if (column?.type === 'text' && text !== undefined) value = text.replaceAll("''", "'")
  else if (column?.type === 'bool' && bool !== undefined) value = bool === 'TRUE'
  else if (column?.type === 'int8' && number !== undefined && /^-?\d+$/.test(number)) value = BigInt(number)
  else if (column?.type === 'float8' && number !== undefined) value = Number(number)
  else return undefined
  const key = equalityKey(value, column.type)
  return key === undefined ? undefined : { column: column.name, type: column.type, key }
}

function equalityOf(node: Node): WhereEquality | null {
  if (node.kind !== 'compare' || node.op !== '=') return null
  const key = equalityKey(node.value as ColumnValue, node.column.type)
  return key === undefined ? null : { column: node.column.name, type: node.column.type, key }
}

function bind(ast: WhereAst, schema: TableSchema, params: ReadonlyMap<number, string>): Node {
  switch (ast.kind) {
    case 'and':
    case 'or':
      return { kind: ast.kind, left: bind(ast.left, schema, params), right: bind(ast.right, schema, params) }
    case 'not':
      return { kind: 'not', operand: bind(ast.operand, schema, params) }
    case 'is-null':
      return { kind: 'is-null', column: columnOf(ast.column, schema), negated: ast.negated }
    case 'compare': {
      const column = comparableColumn(ast.column, schema)
      if (column.type === 'bool' && ast.op !== '=' && ast.op !== '<>') {
        throw new WhereSyntaxError(`bool column "${column.name}" supports only = and <>`)
      }
      return { kind: 'compare', op: ast.op, column, value: constant(ast.value, column, params) }
    }
    case 'in': {
      const column = comparableColumn(ast.column, schema)
      const values = ast.values.map((value) => constant(value, column, params))
      return { kind: 'in', column, values, negated: ast.negated }
    }
  }
}

function columnOf(name: string, schema: TableSchema): Column {
  const column = schema.find((candidate) => candidate.name === name)
  if (column === undefined) throw new WhereSyntaxError(`unknown column "${name}"`)
  return column
}

/** jsonb columns can only be tested for null. */
function comparableColumn(name: string, schema: TableSchema): Column {
  const column = columnOf(name, schema)
  if (column.type === 'jsonb')
    throw new WhereSyntaxError(`jsonb column "${name}" can only be tested with IS [NOT] NULL`)
  return column
}

/** A literal as a value of the column's type; a quoted string or a parameter is cast like Postgres casts an untyped literal. */
function constant(literal: Literal, column: Column, params: ReadonlyMap<number, string>): Constant {
  switch (literal.kind) {
    case 'param': {
      const value = params.get(literal.index)
      if (value === undefined)
        throw new WhereSyntaxError(`parameter $${literal.index} has no value (params[${literal.index}])`)
      return cast(value, column)
    }
    case 'string':
      return cast(literal.value, column)
    case 'number':
      if (column.type === 'int8') return toBigInt(literal.text, column)
      if (column.type === 'numeric') return toNumeric(literal.text, column)
      if (column.type !== 'float8') throw mismatch(column, 'a number')
      return toNumber(literal.text, column)
    case 'bool':
      if (column.type !== 'bool') throw mismatch(column, 'a boolean')
      return literal.value
  }
}

function cast(text: string, column: Column): Constant {
  switch (column.type as Exclude<PgType, 'jsonb'>) {
    case 'text':
      return text
    case 'float8':
      return toNumber(text.trim(), column)
    case 'int8':
      return toBigInt(text.trim(), column)
    case 'numeric':
      return toNumeric(text, column)
    case 'bool': {
      const value = BOOL_INPUT.get(text.trim().toLowerCase())
      if (value === undefined) throw new WhereSyntaxError(`invalid input for bool column "${column.name}": "${text}"`)
      return value
    }
  }
}

const BOOL_INPUT = new Map<string, boolean>([
  ['t', true],
  ['true', true],
  ['yes', true],
  ['on', true],
  ['1', true],
  ['f', false],
  ['false', false],
  ['no', false],
  ['off', false],
  ['0', false],
])

function toNumber(text: string, column: Column): number {
  const value = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(value)) throw new WhereSyntaxError(`invalid input for float8 column "${column.name}": "${text}"`)
  return value
}

/** An int8 constant: an integer in int8's range, exactly (no float in between). */
function toBigInt(text: string, column: Column): bigint {
  const value = /^[+-]?\d+$/.test(text) ? BigInt(text) : null
  if (value === null || value < INT8_MIN || value > INT8_MAX) {
    throw new WhereSyntaxError(`invalid input for int8 column "${column.name}": "${text}"`)
  }
  return value
}

const INT8_MIN = -(2n ** 63n)
const INT8_MAX = 2n ** 63n - 1n

/** A numeric constant, exactly (`1.10`, `'NaN'`, `$1` = `'-Infinity'`): never through a float. */
function toNumeric(text: string, column: Column): Numeric {
  const value = parseNumeric(text)
  if ('error' in value) throw new WhereSyntaxError(`${value.error} for numeric column "${column.name}": "${text}"`)
  return value
}

function mismatch(column: Column, what: string): WhereSyntaxError {
  return new WhereSyntaxError(`cannot compare ${column.type} column "${column.name}" with ${what}`)
}

/** Three-valued logic: null is "unknown". */
function evaluate(node: Node, row: Row): boolean | null {
  switch (node.kind) {
    case 'and': {
      const left = evaluate(node.left, row)
      if (left === false) return false
      const right = evaluate(node.right, row)
      if (right === false) return false
      return left === null || right === null ? null : true
    }
    case 'or': {
      const left = evaluate(node.left, row)
      if (left === true) return true
      const right = evaluate(node.right, row)
      if (right === true) return true
      return left === null || right === null ? null : false
    }
    case 'not': {
      const operand = evaluate(node.operand, row)
      return operand === null ? null : !operand
    }
    case 'is-null': {
      const value = ownValue(row, node.column.name)
      const isNull = value === null || value === undefined
      return node.negated ? !isNull : isNull
    }
    case 'compare': {
      const value = rowValue(row, node.column)
      return value === null ? null : compare(node.op, value, node.value)
    }
    case 'in': {
      const value = rowValue(row, node.column)
      if (value === null) return null
      const found = node.values.some((candidate) => order(value, candidate) === 0)
      return node.negated ? !found : found
    }
  }
}

function rowValue(row: Row, column: Column): Constant | null {
  const value = ownValue(row, column.name)
  if (value === undefined || value === null || typeof value === 'object') return null
  if (column.type === 'numeric') {
    // Postgres's own output text: always valid, so a failure here is a bug, not bad input.
    const numeric = parseNumeric(String(value))
    if ('error' in numeric) throw new Error(`numeric column "${column.name}" holds ${JSON.stringify(value)}`)
    return numeric
  }
  return value
}

function compare(op: ComparisonOp, left: Constant, right: Constant): boolean {
  const sign = order(left, right)
  switch (op) {
    case '=':
      return sign === 0
    case '<>':
      return sign !== 0
    case '<':
      return sign < 0
    case '<=':
      return sign <= 0
    case '>':
      return sign > 0
    case '>=':
      return sign >= 0
  }
}

/**
 * Two constants of one column type (bind checked it): numerics in Postgres's order, the rest as
 * JS orders them, but a float8 NaN as Postgres orders it: equal to NaN only and above every
 * other number (JS finds it neither below nor above anything: equal to every constant).
 */
function order(left: Constant, right: Constant): number {
  if (typeof left === 'object') return compareNumeric(left, right as Numeric)
  if (typeof left === 'number' && typeof right === 'number' && (Number.isNaN(left) || Number.isNaN(right))) {
    return Number.isNaN(left) ? (Number.isNaN(right) ? 0 : 1) : -1
  }
  return left < right ? -1 : left > right ? 1 : 0
}

function render(node: Node): string {
  switch (node.kind) {
    case 'and':
    case 'or':
      return `${operand(node.left)} ${node.kind.toUpperCase()} ${operand(node.right)}`
    case 'not':
      return `NOT ${operand(node.operand)}`
    case 'is-null':
      return `${identifier(node.column.name)} IS ${node.negated ? 'NOT ' : ''}NULL`
    case 'compare':
      return `${identifier(node.column.name)} ${node.op} ${literal(node.value)}`
    case 'in':
      return `${identifier(node.column.name)} ${node.negated ? 'NOT ' : ''}IN (${node.values.map(literal).join(', ')})`
  }
}

function operand(node: Node): string {
  return node.kind === 'and' || node.kind === 'or' || node.kind === 'not' ? `(${render(node)})` : render(node)
}

function identifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function literal(value: Constant): string {
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE'
  if (typeof value === 'object') {
    // Normalised, so `n = 1.10` and `n = 1.1` are one shape; NaN and ±Infinity are no number
    // token, so they are quoted (a string is cast to numeric when read back).
    const text = numericText(value)
    return value.kind === 'finite' ? text : `'${text}'`
  }
  // String() of a finite number (also 1e+21, -5) or of a bigint is a number token the parser
  // reads back exactly.
  return String(value)
}
