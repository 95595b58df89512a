// Proves mapBytes, the one place that knows where an operation keeps its bulk bytes (the worker
// runtime frames and recycles them through it): every record is visited, and an operation is
// rebuilt only where a record was replaced.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeTransaction, mapBytes, transactionAppend, type WriterOpArgs } from '../src/index.ts'
import { txItems } from './helpers.ts'

const ref = (shapeId: number) => ({ handle: `1-${shapeId}`, partition: 0, shapeId })

test('mapBytes visits every record of an append and rebuilds only what it replaced', () => {
  const append: WriterOpArgs['append'] = {
    partition: 0,
    transactions: [1, 2, 3].map((tx) => transactionAppend(encodeTransaction(txItems(tx, 2)), [ref(tx)], true)),
  }
  const seen: Uint8Array[] = []
  assert.equal(
    mapBytes(append, (bytes) => {
      seen.push(bytes)
      return bytes
    }),
    append,
    'nothing replaced: the same operation',
  )
  assert.deepEqual(
    seen,
    append.transactions.map((txn) => txn.bytes),
  )

  const second = append.transactions[1]?.bytes
  const copy = Uint8Array.from(second as Uint8Array)
  const mapped = mapBytes<'append'>(append, (bytes) => (bytes === second ? copy : bytes))
  assert.notEqual(mapped, append)
  assert.equal(mapped.partition, 0)
  assert.equal(mapped.transactions[0], append.transactions[0])
  assert.equal(mapped.transactions[1]?.bytes, copy)
  assert.deepEqual(mapped.transactions[1]?.refs, append.transactions[1]?.refs)
  assert.equal(mapped.transactions[2], append.transactions[2])
})

test("mapBytes replaces a snapshot part's bytes and leaves an operation without bytes alone", () => {
  const part: WriterOpArgs['writeSnapshotPart'] = {
    chunk: 0,
    part: 0,
    rowCount: 1,
    lastOfChunk: true,
    lastSnapshotChunk: 0,
    bytes: new Uint8Array([1, 2, 3]),
    ref: ref(1),
  }
  const copy = new Uint8Array([1, 2, 3])
  const mapped = mapBytes<'writeSnapshotPart'>(part, () => copy)
  assert.equal(mapped.bytes, copy)
  assert.equal(mapped.ref, part.ref)
  const drop: WriterOpArgs['drop'] = { ref: ref(1) }
  assert.equal(
    mapBytes(drop, () => assert.fail('no bytes to visit')),
    drop,
  )
})
