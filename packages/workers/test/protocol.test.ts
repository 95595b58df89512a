// Proves errors cross the thread boundary intact: an EngineError keeps its class and code,
// other errors keep their name and message.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EngineError, ErrorCode } from '@shapestore/engine'

const clone = structuredClone

import { deserializeError, serializeError } from '../src/protocol.ts'

test('an EngineError survives serialisation with class and code', () => {
  const original = new EngineError(ErrorCode.SNAPSHOT_EXISTS, 'already there')
  const back = deserializeError(clone(serializeError(original)))
  assert.ok(back instanceof EngineError)
  assert.equal(back.code, ErrorCode.SNAPSHOT_EXISTS)
  assert.equal(back.message, 'already there')
  assert.equal(back.stack, original.stack)
})

test('a foreign error keeps its name and message but gets no engine code', () => {
  const back = deserializeError(clone(serializeError(Object.assign(new TypeError('boom'), { code: 'ERR_X' }))))
  assert.ok(!(back instanceof EngineError))
  assert.equal(back.name, 'TypeError')
  assert.equal(back.message, 'boom')
  assert.deepEqual(serializeError('plain'), { name: 'Error', message: 'plain' })
})
