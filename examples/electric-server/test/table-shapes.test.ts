/**
 * The fanout's index (TableShapes): a change is evaluated only against the shapes the index
 * names for it, so the index must never leave out a shape the change concerns. Checked against
 * evaluating every shape, on random shapes and row changes whose values include what has no
 * exact key (NaN, -0, int8 as a number past 2^53, a value of the wrong type, null).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ShapeHandle } from '@shapestore/engine'
import fc from 'fast-check'
import { planFanout } from '../src/shapes/fanout.ts'
import { actionFor } from '../src/shapes/messages.ts'
import { type ShapeSpec, shapeSpec } from '../src/shapes/shape-spec.ts'
import { TableShapes } from '../src/shapes/table-shapes.ts'
import { compileWhere, whereEquality } from '../src/sql/where-compiler.ts'
import { WhereSyntaxError } from '../src/sql/where-parser.ts'
import type { ColumnValue, Row, TableSchema } from '../src/table/pg-types.ts'
import type { Change } from '../src/table/transaction.ts'

const TABLE = '"public"."items"'
const SCHEMA: TableSchema = [
  { name: 'id', type: 'text' },
  { name: 'f', type: 'float8' },
  { name: 'i', type: 'int8' },
  { name: 't', type: 'text' },
  { name: 'b', type: 'bool' },
  { name: 'n', type: 'numeric' },
]

/** Where clauses over a few values, so that rows often match: equalities (indexed) and others. */
const whereArb = fc.oneof(
  fc.constantFrom('f = 0', 'f = 1', 'f = -0.0', 'f = 2.5', "f = '1'"),
  fc.constantFrom('i = 0', 'i = 1', "i = '1152921504606846976'", 'i = -7'),
  fc.constantFrom("t = 'a'", "t = ''", "t = '1'", "t = 'it''s'"),
  fc.constantFrom('b = true', "b = 'f'"),
  fc.constantFrom('n = 1', 'n = 1.50'),
  fc.constantFrom("f = 1 OR t = 'a'", 'i <> 1', 'NOT (b = true)', 'f IN (0, 1)', 't IS NULL', 'i = 1 AND b = true'),
  fc.constant(undefined),
)

const valueArb: Record<string, fc.Arbitrary<ColumnValue>> = {
  f: fc.constantFrom(0, -0, 1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null),
  i: fc.constantFrom(0, 1, 1n, -7n, 2 ** 60, 1152921504606846976n, 1.5, '1', null),
  t: fc.constantFrom('a', '', '1', "it's", 1, null),
  b: fc.constantFrom(true, false, 'f', null),
  n: fc.constantFrom('1', '1.0', '1.5', null),
}

const rowArb: fc.Arbitrary<Row> = fc.record({ id: fc.constant('1'), ...valueArb })

const changeArb: fc.Arbitrary<Change> = fc
  .tuple(fc.option(rowArb, { nil: null }), fc.option(rowArb, { nil: null }))
  .filter(([before, after]) => before !== null || after !== null)
  .map(([before, after]) => ({
    op: before === null ? 'insert' : after === null ? 'delete' : 'update',
    id: '1',
    before,
    after,
  }))

/** The shapes planFanout evaluates a change against: the unindexed ones and the index's candidates. */
function candidatesOf(shapes: TableShapes, change: Change): ShapeHandle[] {
  return [...new Set([...shapes.unindexed(), ...shapes.indexedCandidates(change)])]
}

function specOf(where: string | undefined): ShapeSpec {
  return shapeSpec({ table: TABLE, where }, TABLE, SCHEMA)
}

test('every shape a change concerns is a candidate, and planFanout over the index equals evaluating every shape', () => {
  fc.assert(
    fc.property(
      fc.array(whereArb, { minLength: 1, maxLength: 12 }),
      fc.array(changeArb, { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      (wheres, changes, fromText) => {
        const shapes = new TableShapes()
        const specs = new Map<string, ShapeSpec>()
        wheres.forEach((where, n) => {
          const spec = specOf(where)
          const handle = `h${n}`
          specs.set(handle, spec)
          // A restart indexes the stored canonical text; a creation, the compiled clause.
          const text = spec.definition.where
          shapes.add(
            handle,
            fromText ? (text === undefined ? null : whereEquality(text, SCHEMA)) : (spec.where?.equality ?? null),
          )
        })
        for (const change of changes) {
          const candidates = new Set(candidatesOf(shapes, change))
          for (const [handle, spec] of specs) {
            if (actionFor(spec, change) !== 'skip') assert.ok(candidates.has(handle), `${spec.definition.where} missed`)
          }
        }
        const planned = planFanout(shapes, (handle) => specs.get(handle), 7, changes)
        const expected = [...specs]
          .filter(([, spec]) => changes.some((change) => actionFor(spec, change) !== 'skip'))
          .map(([handle]) => handle)
        assert.deepEqual(planned.map(({ handle }) => handle).sort(), expected.sort())
      },
    ),
    { numRuns: 500 },
  )
})

test('a shape removed from the index is never a candidate again; one shape per value needs no set', () => {
  const shapes = new TableShapes()
  shapes.add('a', specOf('i = 1').where?.equality ?? null)
  shapes.add('b', specOf('i = 1').where?.equality ?? null)
  shapes.add('c', specOf('i = 2').where?.equality ?? null)
  shapes.add('d', specOf('i > 1').where?.equality ?? null)
  const change = (i: ColumnValue): Change => ({ op: 'insert', id: '1', before: null, after: { id: '1', i } })
  assert.deepEqual([...candidatesOf(shapes, change(1n))].sort(), ['a', 'b', 'd'])
  assert.deepEqual([...candidatesOf(shapes, change(2))].sort(), ['c', 'd'])
  assert.deepEqual([...candidatesOf(shapes, change(null))], ['d'])
  // No exact key (a float in an int8 column): every shape of the column.
  assert.deepEqual([...candidatesOf(shapes, change(1.5))].sort(), ['a', 'b', 'c', 'd'])
  shapes.delete('a')
  shapes.delete('c')
  shapes.delete('c')
  assert.deepEqual([...candidatesOf(shapes, change(1))].sort(), ['b', 'd'])
  assert.deepEqual([...candidatesOf(shapes, change(2))], ['d'])
  // Re-adding a handle moves it: it is found by its new value only.
  shapes.add('b', specOf('i = 3').where?.equality ?? null)
  assert.deepEqual([...candidatesOf(shapes, change(1))], ['d'])
  assert.deepEqual([...candidatesOf(shapes, change(3))].sort(), ['b', 'd'])
  assert.deepEqual([...shapes.handles()].sort(), ['b', 'd'])
})

test('a restart indexes a stored (canonical) where text exactly as the compiled clause: whereEquality equals compileWhere(...).equality', () => {
  const quoted = (text: string) => `'${text.replaceAll("'", "''")}'`
  const literalArb = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
    fc.integer().map(String),
    fc.string().map(quoted),
    fc.constantFrom('TRUE', 'FALSE', "'t'", "'NaN'", '1.50', '-0'),
  )
  const sourceArb = fc.oneof(
    fc
      .tuple(fc.constantFrom('f', 'i', 't', 'b', 'n', '"t"'), literalArb)
      .map(([column, literal]) => `${column} = ${literal}`),
    fc
      .tuple(fc.constantFrom('f', 'i', 't'), literalArb)
      .map(([column, literal]) => `${column} = ${literal} AND b = TRUE`),
    fc.tuple(fc.constantFrom('f', 'i', 't'), literalArb).map(([column, literal]) => `${column} <> ${literal}`),
  )
  fc.assert(
    fc.property(sourceArb, (source) => {
      let compiled: ReturnType<typeof compileWhere>
      try {
        compiled = compileWhere(source, SCHEMA)
      } catch (error) {
        if (error instanceof WhereSyntaxError) return
        throw error
      }
      assert.deepEqual(whereEquality(compiled.canonical, SCHEMA), compiled.equality, compiled.canonical)
    }),
    { numRuns: 2000 },
  )
})
