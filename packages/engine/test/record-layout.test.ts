/**
 * Pins the log record layout (record-layout.ts): a transaction encoded on the main thread
 * decodes, field by field at the named offsets, to exactly its items — offsets up to 2^53 - 1,
 * every op type, non-ASCII and astral text — and the numbers that travel beside the record
 * (first and last offset, row count, JSON bytes) agree with it. The part a replay keeps
 * (transactionAfter) is the same decoding filtered. Fuzzed, seeded and replayable:
 *   RECORD_LAYOUT_SEED=<seed> [RECORD_LAYOUT_RUNS=<n>] node --import tsx --test test/record-layout.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { encodeTransaction, type LogItem, type OpType } from '../src/index.ts'
import { transactionAfter } from '../src/log-store/log-record.ts'
import {
  CHAIN_LONG_BYTES,
  OP_TYPES,
  RECORD_COUNT_AT,
  RECORD_HEADER_BYTES,
  ROW_HEADER_BYTES,
  ROW_JSON_BYTES_BYTES,
  ROW_KEY_BYTES_AT,
  ROW_OP_AT,
  ROW_OP_TYPE_AT,
  ROW_TX_AT,
} from '../src/log-store/record-layout.ts'
import { encodeSnapshotPart, isLastPartOfChunk, snapshotPartRows } from '../src/log-store/snapshot-part.ts'
import { isWellFormedText } from '../src/well-formed.ts'
import { fuzzParameters } from './fuzz-parameters.ts'

interface DecodedRow {
  readonly tx: number
  readonly op: number
  readonly opType: OpType
  readonly key: string
  readonly json: string
}

/** An independent decoder: reads every field where the layout says it is. */
function decode(bytes: Uint8Array): DecodedRow[] {
  const record = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const u64 = (at: number) => record.readUInt32BE(at) * 2 ** 32 + record.readUInt32BE(at + 4)
  const names = Object.fromEntries(Object.entries(OP_TYPES).map(([name, code]) => [code, name as OpType]))
  const rows: DecodedRow[] = []
  let at = RECORD_HEADER_BYTES
  for (let i = 0; i < record.readUInt32BE(RECORD_COUNT_AT); i++) {
    const keyBytes = record.readUInt32BE(at + ROW_KEY_BYTES_AT)
    const keyAt = at + ROW_HEADER_BYTES
    const jsonBytes = record.readUInt32BE(keyAt + keyBytes)
    const jsonAt = keyAt + keyBytes + ROW_JSON_BYTES_BYTES
    const opType = names[record[at + ROW_OP_TYPE_AT] as number]
    assert.ok(opType !== undefined, 'a known op type byte')
    rows.push({
      tx: u64(at + ROW_TX_AT),
      op: u64(at + ROW_OP_AT),
      opType,
      key: record.toString('utf8', keyAt, keyAt + keyBytes),
      json: record.toString('utf8', jsonAt, jsonAt + jsonBytes),
    })
    at = jsonAt + jsonBytes
  }
  assert.equal(at + CHAIN_LONG_BYTES, record.length, 'the record ends with its last row, then room for its chain')
  assert.ok(
    record.subarray(at).every((byte) => byte === 0),
    'the chain is zero until the writer writes it',
  )
  return rows
}

/** Any ASCII character, NUL and the control characters included. */
const asciiText = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)) })
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), asciiText)
const part = fc.oneof(fc.nat(1000), fc.maxSafeNat())
const transaction = fc
  .uniqueArray(fc.tuple(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), part), {
    minLength: 1,
    maxLength: 40,
    selector: ([tx, op]) => `${tx}_${op}`,
  })
  .chain((offsets) =>
    fc.tuple(
      fc.constant(offsets.sort(([a, x], [b, y]) => (a !== b ? a - b : x - y))),
      fc.array(fc.tuple(text, text, fc.constantFrom<OpType>('insert', 'update', 'delete')), {
        minLength: offsets.length,
        maxLength: offsets.length,
      }),
    ),
  )
  .map(([offsets, fields]) =>
    offsets.map(([tx, op], i): LogItem => {
      const [key, json, opType] = fields[i] as [string, string, OpType]
      return { offset: `${tx}_${op}`, key, op: opType, json }
    }),
  )
  .filter((items) => items.every(({ key, json }) => isWellFormedText(key) && isWellFormedText(json)))

const expected = (items: readonly LogItem[]): DecodedRow[] =>
  items.map(({ offset, key, op, json }) => {
    const [tx, o] = String(offset).split('_').map(Number) as [number, number]
    return { tx, op: o, opType: op, key, json }
  })

test('an encoded transaction decodes at the layout offsets to exactly its items', () => {
  const { seed, path, runs } = fuzzParameters('RECORD_LAYOUT', 300)
  fc.assert(
    fc.property(transaction, (items) => {
      const txn = encodeTransaction(items)
      const rows = decode(txn.bytes)
      assert.deepEqual(rows, expected(items))
      const first = rows[0] as DecodedRow
      const last = rows[rows.length - 1] as DecodedRow
      assert.deepEqual(
        [txn.rowCount, txn.firstTx, txn.firstOp, txn.lastTx, txn.lastOp, txn.jsonBytes],
        [
          rows.length,
          first.tx,
          first.op,
          last.tx,
          last.op,
          rows.reduce((sum, row) => sum + Buffer.byteLength(row.json), 0),
        ],
      )
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test('the part of a transaction after an offset is its rows after that offset', () => {
  const { seed, path, runs } = fuzzParameters('RECORD_LAYOUT', 300)
  fc.assert(
    fc.property(transaction, fc.nat(), (items, pick) => {
      const txn = encodeTransaction(items)
      const rows = decode(txn.bytes)
      // Cut after a row that is not the last: the caller guarantees some row remains.
      if (rows.length < 2) return
      const cut = rows[pick % (rows.length - 1)] as DecodedRow
      const kept = transactionAfter(txn, cut.tx, cut.op)
      const keptRows = decode(kept.bytes)
      assert.deepEqual(keptRows, rows.slice(rows.indexOf(cut) + 1))
      assert.equal(kept.rowCount, keptRows.length)
      assert.deepEqual([kept.firstTx, kept.firstOp], [keptRows[0]?.tx, keptRows[0]?.op])
      assert.deepEqual([kept.lastTx, kept.lastOp], [txn.lastTx, txn.lastOp])
      assert.equal(
        kept.jsonBytes,
        keptRows.reduce((sum, row) => sum + Buffer.byteLength(row.json), 0),
      )
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test('a transaction encoded into memory it was given is written there and nowhere else', () => {
  const memory = Buffer.alloc(4096, 0xee)
  let asked = 0
  const txn = encodeTransaction([{ offset: '5_1', key: 'k', op: 'insert', json: '{"a":"é"}' }], (bytes) => {
    asked = bytes
    return memory.subarray(100, 100 + bytes)
  })
  assert.equal(txn.bytes.byteOffset, memory.byteOffset + 100)
  assert.equal(txn.bytes.length, asked)
  assert.equal(memory[99], 0xee)
  assert.equal(memory[100 + asked], 0xee)
  assert.deepEqual(decode(txn.bytes), [{ tx: 5, op: 1, opType: 'insert', key: 'k', json: '{"a":"é"}' }])
})

test('a snapshot part (any text, all-ASCII parts, a big row) reads back as exactly its rows', () => {
  const { seed, path, runs } = fuzzParameters('RECORD_LAYOUT', 300)
  const rows = fc.array(text, { maxLength: 40 }).filter((texts) => texts.every(isWellFormedText))
  const parts = fc.oneof(rows, fc.array(asciiText, { maxLength: 40 }))
  fc.assert(
    fc.property(parts, fc.boolean(), (texts, last) => assertPartRoundTrip(texts, last)),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
  assertPartRoundTrip(['"a"', `"${'x'.repeat(1024 * 1024)}"`], true)
})

function assertPartRoundTrip(rows: string[], lastOfChunk: boolean): void {
  const bytes = rows.reduce((sum, row) => sum + Buffer.byteLength(row), 0)
  const part = encodeSnapshotPart(rows, bytes, lastOfChunk)
  assert.deepEqual(snapshotPartRows(part), rows)
  assert.equal(isLastPartOfChunk(part), lastOfChunk)
}
