// Proves LogOffset follows Electric's forms and order, and rejects every malformed string with INVALID_OFFSET.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ErrorCode, LogOffset } from '../src/index.ts'
import { assertCode } from './helpers.ts'

test('parses and formats the four forms', () => {
  for (const text of ['-1', '0_0', '0_7', '0_inf', '1_0', '123456_42', '9007199254740991_9007199254740991', '5_inf']) {
    assert.equal(LogOffset.parse(text).toString(), text)
  }
  assert.equal(LogOffset.parse('007_01').toString(), '7_1', 'leading zeros are accepted, as Electric does')
})

test('orders by tx, then op, with inf above every op', () => {
  const sorted = ['-1', '0_0', '0_1', '0_inf', '1_0', '1_2', '1_inf', '2_0', '10_0']
  const shuffled = [...sorted].reverse().map((text) => LogOffset.parse(text))
  shuffled.sort(LogOffset.compare)
  assert.deepEqual(
    shuffled.map((offset) => offset.toString()),
    sorted,
  )
  assert.ok(LogOffset.parse('0_inf').isBefore(LogOffset.parse('1_0')))
  assert.ok(LogOffset.BEFORE_ALL.isBeforeAll && LogOffset.FIRST.isVirtual && LogOffset.parse('3_1').isReal)
})

test('rejects malformed offsets with INVALID_OFFSET', async () => {
  const bad = ['', '10', '1_2_3', '1_2 ', ' 1_2', '-2', '-1_0', 'a_b', '1_-1', '1.5_0', '0_infinity', 'now', '1_', '_1']
  for (const text of bad) await assertCode(() => LogOffset.parse(text), ErrorCode.INVALID_OFFSET)
  await assertCode(() => LogOffset.parse('9007199254740992_0'), ErrorCode.INVALID_OFFSET)
  await assertCode(() => LogOffset.parse(42 as unknown as string), ErrorCode.INVALID_OFFSET)
  await assertCode(() => LogOffset.of(-1, 3), ErrorCode.INVALID_OFFSET)
  await assertCode(() => LogOffset.of(1.5, 0), ErrorCode.INVALID_OFFSET)
})
