import { checkSpan, DamagedRecord } from './damaged-record.ts'
import { readU64 } from './keys.ts'
import {
  RECORD_COUNT_AT,
  RECORD_HEADER_BYTES,
  ROW_HEADER_BYTES,
  ROW_JSON_BYTES_BYTES,
  ROW_KEY_BYTES_AT,
  ROW_OP_AT,
  ROW_OVERHEAD_BYTES,
  ROW_TX_AT,
  SHARED_RECORD_MARK,
  SHARED_REF_BYTES,
  SHARED_REF_KEY_AT,
  SHARED_REF_MARK_AT,
} from './record-layout.ts'
import type { EncodedTransaction } from './transaction-encoder.ts'

/**
 * Reading and reshaping log records and shared-record references (layouts in
 * record-layout.ts). The JSON inside is client-ready and never parsed by the engine.
 */

export function encodeSharedRef(txsKey: Buffer): Buffer {
  const ref = Buffer.allocUnsafe(SHARED_REF_BYTES)
  ref.writeUInt32BE(SHARED_RECORD_MARK, SHARED_REF_MARK_AT)
  txsKey.copy(ref, SHARED_REF_KEY_AT)
  return ref
}

/** The txs key a log value refers to, or null if the value is a record of its own. */
export function sharedRefKey(value: Buffer): Buffer | null {
  return value.length === SHARED_REF_BYTES && value.readUInt32BE(SHARED_REF_MARK_AT) === SHARED_RECORD_MARK
    ? value.subarray(SHARED_REF_KEY_AT, SHARED_REF_BYTES)
    : null
}

/**
 * Calls `visit` with each row's offset and the byte range of its JSON; stops when it returns
 * false. Every length is checked against the record's size first: a record that does not
 * decode throws DamagedRecord, never a read past its end.
 */
export function visitLogRecord(
  record: Uint8Array,
  visit: (tx: number, op: number, jsonStart: number, jsonEnd: number) => boolean,
): void {
  const view = asBuffer(record)
  const length = view.length
  checkSpan(0, RECORD_HEADER_BYTES, length, 'log record header')
  const count = view.readUInt32BE(RECORD_COUNT_AT)
  if (count * ROW_OVERHEAD_BYTES > length - RECORD_HEADER_BYTES) {
    throw new DamagedRecord(`a log record of ${length} bytes cannot hold ${count} rows`)
  }
  let at = RECORD_HEADER_BYTES
  for (let i = 0; i < count; i++) {
    checkSpan(at, ROW_HEADER_BYTES, length, `log row ${i} header`)
    const tx = readU64(view, at + ROW_TX_AT)
    const op = readU64(view, at + ROW_OP_AT)
    const keyBytes = view.readUInt32BE(at + ROW_KEY_BYTES_AT)
    at += ROW_HEADER_BYTES
    checkSpan(at, keyBytes + ROW_JSON_BYTES_BYTES, length, `log row ${i} key`)
    at += keyBytes
    const jsonBytes = view.readUInt32BE(at)
    at += ROW_JSON_BYTES_BYTES
    checkSpan(at, jsonBytes, length, `log row ${i} JSON`)
    if (!visit(tx, op, at, at + jsonBytes)) return
    at += jsonBytes
  }
}

/**
 * The part of `txn` after offset (tx, op) as a transaction of its own: a replay that overlaps
 * what the shape already has keeps only the new rows. The caller knows some row is after it.
 */
export function transactionAfter(txn: EncodedTransaction, tx: number, op: number): EncodedTransaction {
  const record = asBuffer(txn.bytes)
  let skipped = 0
  let skippedJsonBytes = 0
  let from = RECORD_HEADER_BYTES
  let firstTx = 0
  let firstOp = 0
  visitLogRecord(record, (rowTx, rowOp, jsonStart, jsonEnd) => {
    if (rowTx > tx || (rowTx === tx && rowOp > op)) {
      firstTx = rowTx
      firstOp = rowOp
      return false
    }
    skipped++
    skippedJsonBytes += jsonEnd - jsonStart
    from = jsonEnd
    return true
  })
  const bytes = Buffer.allocUnsafe(RECORD_HEADER_BYTES + record.length - from)
  bytes.writeUInt32BE(txn.rowCount - skipped, RECORD_COUNT_AT)
  record.copy(bytes, RECORD_HEADER_BYTES, from)
  return {
    ...txn,
    bytes,
    rowCount: txn.rowCount - skipped,
    firstTx,
    firstOp,
    jsonBytes: txn.jsonBytes - skippedJsonBytes,
  }
}

/** A Buffer over the same memory (a record that crossed a thread boundary arrives as a Uint8Array). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
