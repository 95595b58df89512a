/**
 * The where-clause subset: what it accepts and rejects, SQL's three-valued logic, typed
 * comparisons, and that the canonical text parses back to the same clause (property test).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { parseColumnsParam } from '../src/sql/columns-param.ts'
import { compileWhere } from '../src/sql/where-compiler.ts'
import { WhereSyntaxError } from '../src/sql/where-parser.ts'
import type { Row, TableSchema } from '../src/table/pg-types.ts'

const SCHEMA: TableSchema = [
  { name: 'id', type: 'float8' },
  { name: 'title', type: 'text' },
  { name: 'done', type: 'bool' },
  { name: 'Mixed Case', type: 'text' },
  { name: 'meta', type: 'jsonb' },
]

function matches(where: string, row: Row, params?: Map<number, string>): boolean {
  return compileWhere(where, SCHEMA, params).matches(row)
}

test('comparisons, IN, IS NULL, AND/OR/NOT, parameters, quoted identifiers', () => {
  const row = { id: 3, title: "it's", done: false, 'Mixed Case': 'X', meta: null }
  assert.equal(matches('id = 3', row), true)
  assert.equal(matches('3 = id', row), true)
  assert.equal(matches('5 > id', row), true)
  assert.equal(matches("title = 'it''s'", row), true)
  assert.equal(matches('id <> 3 OR done = false', row), true)
  assert.equal(matches('NOT (id >= 3)', row), false)
  assert.equal(matches('id IN (1, 2, 3)', row), true)
  assert.equal(matches('id NOT IN (-1, 2.5e0)', row), true)
  assert.equal(matches('meta IS NULL AND title IS NOT NULL', row), true)
  assert.equal(matches('meta IS NOT NULL', { ...row, meta: { a: 1 } }), true)
  assert.equal(matches('"Mixed Case" = \'X\'', row), true)
  assert.equal(matches("done = 'f'", row), true)
  assert.equal(
    matches(
      'id = $1 AND title = $2',
      row,
      new Map([
        [1, '3'],
        [2, "it's"],
      ]),
    ),
    true,
  )
})

test('three-valued logic: a null column makes a comparison unknown, and unknown is not a match', () => {
  const row = { id: 1, title: null, done: null }
  assert.equal(matches("title = 'x'", row), false)
  assert.equal(matches("NOT (title = 'x')", row), false)
  assert.equal(matches("title <> 'x'", row), false)
  assert.equal(matches("title = 'x' OR id = 1", row), true)
  assert.equal(matches("title = 'x' AND id = 2", row), false)
  assert.equal(matches("title NOT IN ('a')", row), false)
  assert.equal(matches('title IS NULL', row), true)
  // A column missing from an older row is null.
  assert.equal(matches('done IS NULL', { id: 1 }), true)
})

test('outside the subset or ill-typed: WhereSyntaxError with a message', () => {
  const bad = [
    "title LIKE 'a%'",
    'id = id',
    'id + 1 = 2',
    'lower(title) = 1',
    "nope = 'x'",
    "title = 'unterminated",
    'title = 1',
    "id = 'abc'",
    'done > true',
    'meta IS NULL OR meta = 1',
    'id = $1',
    '',
    'id = 1 AND',
    '(id = 1',
    'id = 1)',
    "done = 'maybe'",
  ]
  for (const where of bad) {
    assert.throws(() => compileWhere(where, SCHEMA), WhereSyntaxError, where)
  }
})

test('columns parameter: quoted names kept, unquoted folded, malformed rejected', () => {
  assert.deepEqual(parseColumnsParam('"id","Title",x'), ['id', 'Title', 'x'])
  assert.deepEqual(parseColumnsParam('ID, Title'), ['id', 'title'])
  assert.deepEqual(parseColumnsParam('"a""b"'), ['a"b'])
  for (const bad of ['', 'a,,b', '"a', 'a"b', '"a"x']) assert.throws(() => parseColumnsParam(bad), bad)
})

const column = fc.constantFrom('id', 'title', 'done')
const literalFor = (name: string) =>
  name === 'id'
    ? fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => String(Object.is(n, -0) ? 0 : n))
    : name === 'title'
      ? fc.string().map((s) => `'${s.replaceAll("'", "''")}'`)
      : fc.constantFrom('TRUE', 'FALSE', "'t'", "'off'")
const comparison = column.chain((name) =>
  fc
    .tuple(fc.constantFrom(...(name === 'done' ? ['=', '<>'] : ['=', '<>', '<', '<=', '>', '>='])), literalFor(name))
    .map(([op, value]) => `${name} ${op} ${value}`),
)
const clause: fc.Arbitrary<string> = fc.letrec<{ clause: string }>((tie) => ({
  clause: fc.oneof(
    { depthSize: 'small' },
    comparison,
    column.map((name) => `${name} IS NOT NULL`),
    fc.tuple(tie('clause'), fc.constantFrom('AND', 'OR'), tie('clause')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('clause').map((inner) => `NOT (${inner})`),
  ),
})).clause

test('property: the canonical text compiles back to itself and to the same predicate', () => {
  const rowArb = fc.record({
    id: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
    title: fc.option(fc.string(), { nil: null }),
    done: fc.option(fc.boolean(), { nil: null }),
  })
  fc.assert(
    fc.property(clause, fc.array(rowArb, { maxLength: 5 }), (where, rows) => {
      const compiled = compileWhere(where, SCHEMA)
      const again = compileWhere(compiled.canonical, SCHEMA)
      assert.equal(again.canonical, compiled.canonical)
      for (const row of rows) assert.equal(again.matches(row), compiled.matches(row))
    }),
    { seed: 42, numRuns: 300 },
  )
})

test('int8 columns compare exactly past 2^53; their canonical text compiles back to the same constant', () => {
  const schema: TableSchema = [
    { name: 'id', type: 'int8' },
    { name: 'n', type: 'int8' },
  ]
  const big = 9_007_199_254_740_993n // 2^53 + 1: as a float it is 2^53
  const where = compileWhere(`n = ${big}`, schema)
  assert.equal(where.matches({ id: 1n, n: big }), true)
  assert.equal(where.matches({ id: 1n, n: big - 1n }), false)
  assert.equal(compileWhere(`n IN ('${big}', 1)`, schema).matches({ id: 1n, n: big }), true)
  assert.equal(compileWhere(`n > $1`, schema, new Map([[1, String(big - 1n)]])).matches({ id: 1n, n: big }), true)
  assert.equal(compileWhere(where.canonical, schema).canonical, where.canonical)
  for (const bad of ['n = 1.5', "n = 'x'", 'n = 9223372036854775808', 'n = TRUE']) {
    assert.throws(() => compileWhere(bad, schema), WhereSyntaxError, bad)
  }
})
