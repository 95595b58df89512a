// Proves shape definitions have one canonical form (the same shape always maps to the same key) and handles are validated strictly.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertHandle, canonicalShape, ErrorCode, isValidHandle } from '../src/index.ts'
import { canonicalTable, shapeKey } from '../src/shape.ts'
import { assertCode } from './helpers.ts'

test('equivalent definitions share one canonical form', () => {
  const forms = [
    { table: 'items', where: 'id = 1', columns: ['b', 'a'] },
    { table: 'public.items', where: '  id = 1\n', columns: ['a', 'b'], replica: 'default' as const },
    { table: 'ITEMS', where: 'id = 1', columns: ['a', 'b'] },
    { table: '"public"."items"', where: 'id = 1', columns: ['a', 'b'] },
  ]
  const keys = new Set(forms.map((form) => shapeKey(canonicalShape(form))))
  assert.equal(keys.size, 1)
})

test('different shapes have different canonical forms', () => {
  const forms = [
    { table: 'items' },
    { table: '"Items"' },
    { table: 'other.items' },
    { table: 'items', where: 'id = 1' },
    { table: 'items', columns: ['a'] },
    { table: 'items', replica: 'full' as const },
  ]
  const keys = new Set(forms.map((form) => shapeKey(canonicalShape(form))))
  assert.equal(keys.size, forms.length)
})

test('malformed definitions are rejected with INVALID_SHAPE', async () => {
  const bad: unknown[] = [
    null,
    {},
    { table: '' },
    { table: 'a.b.c' },
    { table: 'items; drop table x' },
    { table: 'items', where: 5 },
    { table: 'items', columns: [] },
    { table: 'items', columns: ['a', 'a'] },
    { table: 'items', columns: ['x'.repeat(64)] },
    { table: 'items', replica: 'partial' },
    { table: 'items', extra: true },
    { table: 'items', where: 'x'.repeat(16 * 1024 + 1) },
  ]
  for (const def of bad) await assertCode(() => canonicalShape(def as never), ErrorCode.INVALID_SHAPE)
})

test('canonicalTable keeps its last answer for that name only: a different name, valid or not, is worked out', async () => {
  const sequence: [unknown, string | null][] = [
    ['items', '"public"."items"'],
    ['items', '"public"."items"'],
    ['', null],
    ['ITEMS', '"public"."items"'],
    ['"Items"', '"public"."Items"'],
    [undefined, null],
    ['a.b.c', null],
    ['other.items', '"other"."items"'],
    ['items', '"public"."items"'],
  ]
  for (const [table, expected] of sequence) {
    if (expected === null) await assertCode(() => canonicalTable(table), ErrorCode.INVALID_SHAPE)
    else assert.equal(canonicalTable(table), expected)
  }
})

test('handles are validated before they reach storage', async () => {
  assert.ok(isValidHandle('43061132-1757029388081097'))
  for (const bad of [
    '',
    '../etc/passwd',
    '43061132',
    '43061132-',
    'abc-123',
    '1-2/3',
    `1-${'9'.repeat(40)}`,
    42,
    null,
  ]) {
    assert.equal(isValidHandle(bad), false, String(bad))
    await assertCode(() => assertHandle(bad), ErrorCode.INVALID_HANDLE)
  }
})
