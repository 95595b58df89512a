// Proves errors and keys cross the thread boundary intact: an EngineError keeps its class and
// code, other errors keep their name and message, offsets keep their exact values.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EngineError, ErrorCode, LogOffset } from '@shapestore/engine'

const clone = structuredClone

import { decodeKeys, deserializeError, encodeKeys, serializeError } from '../src/protocol.ts'

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

test('keys keep exact offsets, including inf and values above 2^32', () => {
  const keys = {
    latestOffset: LogOffset.of(2 ** 40 + 3, 2 ** 33),
    lastPersistedOffset: LogOffset.LAST_BEFORE_REAL,
    pgSnapshot: { xmin: 1, xmax: 9, xipList: [3, 4], filterTxns: false },
    snapshotStarted: true,
    lastSnapshotChunk: 7,
  }
  const back = decodeKeys(clone(encodeKeys('1-2', keys)))
  assert.ok(back.latestOffset.equals(keys.latestOffset))
  assert.equal(back.lastPersistedOffset.toString(), '0_inf')
  assert.deepEqual(
    { ...back, latestOffset: 0, lastPersistedOffset: 0 },
    { ...keys, latestOffset: 0, lastPersistedOffset: 0 },
  )
})
