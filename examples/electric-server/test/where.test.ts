/**
 * The where-clause subset: what it accepts and rejects, SQL's three-valued logic, typed
 * comparisons, and that the canonical text parses back to the same clause (property test).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { parseColumnsParam } from '../src/sql/columns-param.ts'
import { compareNumeric, type Numeric, numericText, parseNumeric } from '../src/sql/numeric.ts'
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

test("a float8 NaN (Postgres mode: a replicated row) is above every number and equal to none, as in Postgres; a column named like Object's methods is NULL where a row has none", () => {
  const nan = { id: Number.NaN, title: 'n' }
  assert.equal(matches('id = 5', nan), false)
  assert.equal(matches('id IN (1, 2)', nan), false)
  assert.equal(matches('id <> 5', nan), true)
  assert.equal(matches('id > 5', nan), true)
  assert.equal(matches('id < 5', nan), false)
  assert.equal(matches('5 < id', nan), true)
  const schema: TableSchema = [
    { name: 'id', type: 'text' },
    { name: 'constructor', type: 'text' },
    { name: 'valueOf', type: 'text' },
  ]
  const missing = { id: 'b' }
  assert.equal(compileWhere('constructor IS NULL', schema).matches(missing), true)
  assert.equal(compileWhere("constructor < 'x'", schema).matches(missing), false)
  assert.equal(compileWhere('"valueOf" IS NOT NULL', schema).matches(missing), false)
  assert.equal(compileWhere("constructor = 'x'", schema).matches({ id: 'a', constructor: 'x' }), true)
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

test('numeric columns compare exactly, as Postgres does: past float8 precision, 1.10 = 1.1, NaN and ±Infinity', () => {
  const schema: TableSchema = [
    { name: 'id', type: 'numeric' },
    { name: 'n', type: 'numeric' },
  ]
  const is = (where: string, n: string, params?: Map<number, string>) =>
    compileWhere(where, schema, params).matches({ id: '1', n })
  // Each of these is wrong through float8, where both sides round to the same double.
  assert.equal(is('n > 0.1', '0.1000000000000000055511151231257827'), true)
  assert.equal(is('n = 0.1', '0.1000000000000000055511151231257827'), false)
  assert.equal(is('n < 12345678901234567890.12346', '12345678901234567890.12345'), true)
  assert.equal(is('n <> 12345678901234567890.12346', '12345678901234567890.12345'), true)
  assert.equal(is('n >= 9007199254740993', '9007199254740992'), false)
  // Scale does not matter to equality, in any spelling; signs, zero, exponents.
  assert.equal(is('n = 1.1', '1.10'), true)
  assert.equal(is("n = '  1.100e0 '", '1.1'), true)
  assert.equal(is('n IN (2, 0.011e2)', '1.10'), true)
  assert.equal(is('n NOT IN (2, 1.1)', '1.10'), false)
  assert.equal(is('n = -0.0', '0'), true)
  assert.equal(is('n < 0', '-0.001'), true)
  assert.equal(is('n < -1.25', '-1.5'), true)
  assert.equal(is('n > -1.25', '-1.125'), true)
  assert.equal(is('n > $1', '0.001', new Map([[1, '-1e-3']])), true)
  assert.equal(is('n <= 99.99', '100'), false)
  // NaN equals NaN and sorts above everything, Infinity included; -Infinity below every number.
  assert.equal(is("n = 'NaN'", 'NaN'), true)
  assert.equal(is("n > 'Infinity'", 'NaN'), true)
  assert.equal(is('n > 1e100000', 'NaN'), true)
  assert.equal(is("n IN ('nan')", 'NaN'), true)
  assert.equal(is("n = 'inf'", 'Infinity'), true)
  assert.equal(is("n < '-inf'", '-Infinity'), false)
  assert.equal(is('n < -1e100000', '-Infinity'), true)
  assert.equal(is("n <> '+Infinity'", '1e100'), true)
  // Equal clauses are one shape: the canonical text is normalised and reads back.
  const spellings = ['n = 1.10', "n = '1.1'", 'n = 11e-1', 'n = $1']
  const canonical = spellings.map((where) => compileWhere(where, schema, new Map([[1, '001.100']])).canonical)
  assert.deepEqual(canonical, Array(4).fill('"n" = 1.1'))
  const special = compileWhere("n IN ('nan', '-INF', -0.5e-3, 1e3, 1e131071, -12.5e-30)", schema)
  assert.equal(special.canonical, `"n" IN ('NaN', '-Infinity', -0.0005, 1000, 1e131071, -1.25e-29)`)
  assert.equal(compileWhere(special.canonical, schema).canonical, special.canonical)
  // Not a numeric, or out of numeric's range: a 400, never a guess.
  const bad = [
    "n = 'x'",
    'n = TRUE',
    "n = '1_000'",
    "n = '0x10'",
    "n = '-nan'",
    "n = ''",
    'n = 1e131072',
    'n = 1e-16384',
  ]
  for (const where of bad) assert.throws(() => compileWhere(where, schema), WhereSyntaxError, where)
  assert.equal(is('n > 1e131071', '1'), false) // Postgres's limits themselves are accepted
  assert.equal(is('n > 1e-16383', '1'), true)
})

/** A reference for finite decimals: exact rationals m / 10^s as bigints. */
function rational(text: string): { m: bigint; s: number } {
  const [mantissa = '', exponent = '0'] = text.split('e')
  const [whole = '', fraction = ''] = mantissa.split('.')
  const s = fraction.length - Number(exponent)
  const m = BigInt(whole + fraction)
  return s >= 0 ? { m, s } : { m: m * 10n ** BigInt(-s), s: 0 }
}

function compareRational(a: string, b: string): number {
  const x = rational(a)
  const y = rational(b)
  const left = x.m * 10n ** BigInt(Math.max(x.s, y.s) - x.s)
  const right = y.m * 10n ** BigInt(Math.max(x.s, y.s) - y.s)
  return left < right ? -1 : left > right ? 1 : 0
}

// Decimals with leading and trailing zeros, signs and exponents, often close to each other.
const decimal = fc
  .tuple(
    fc.constantFrom('', '-', '+'),
    fc.stringMatching(/^0{0,2}[0-9]{1,6}$/),
    fc.stringMatching(/^[0-9]{0,6}0{0,2}$/),
    fc.integer({ min: -30, max: 30 }),
  )
  .map(([sign, whole, fraction, exponent]) => `${sign}${whole}${fraction === '' ? '' : `.${fraction}`}e${exponent}`)

test('property: numeric comparison agrees with exact rational arithmetic, and numericText reads back', () => {
  const finite = (text: string) => parseNumeric(text) as Numeric
  fc.assert(
    fc.property(decimal, decimal, (a, b) => {
      assert.equal(compareNumeric(finite(a), finite(b)), compareRational(a, b), `${a} vs ${b}`)
      assert.deepEqual(parseNumeric(numericText(finite(a))), finite(a))
      assert.equal(compareRational(numericText(finite(a)), a), 0)
    }),
    { seed: 7, numRuns: 2000 },
  )
  // Same digits, nearly the same value: the generator above rarely hits these.
  assert.equal(compareNumeric(finite('0.12'), finite('0.123')), -1)
  assert.equal(compareNumeric(finite('0.13'), finite('0.123')), 1)
  assert.equal(compareNumeric(finite('-0.13'), finite('-0.123')), -1)
})
