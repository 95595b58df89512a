import { LogOffset } from '../log-offset.ts'
import { checkSpan, DamagedRecord } from './damaged-record.ts'
import { readU64, writeU64 } from './keys.ts'
import {
  CHAIN_LONG,
  CHAIN_LONG_BYTES,
  CHAIN_SHORT,
  CHAIN_SHORT_BYTES,
  RECORD_COUNT_AT,
  RECORD_HEADER_BYTES,
  ROW_HEADER_BYTES,
  ROW_JSON_BYTES_BYTES,
  ROW_KEY_BYTES_AT,
  ROW_OP_AT,
  ROW_OVERHEAD_BYTES,
  ROW_TX_AT,
  SHARED_RECORD_MARK,
  SHARED_REF_KEY_AT,
  SHARED_REF_MARK_AT,
  UNCHAINED_SHARED_REF_BYTES,
} from './record-layout.ts'
import type { EncodedTransaction } from './transaction-encoder.ts'

/**
 * Reading and reshaping log records and shared-record references (layouts in
 * record-layout.ts). The JSON inside is client-ready and never parsed by the engine.
 */

/** A reference to the shared record under `txsKey`, with room for its chain (chainEntry) after it. */
export function encodeSharedRef(txsKey: Buffer): Buffer {
  const ref = Buffer.alloc(UNCHAINED_SHARED_REF_BYTES + CHAIN_LONG_BYTES)
  ref.writeUInt32BE(SHARED_RECORD_MARK, SHARED_REF_MARK_AT)
  txsKey.copy(ref, SHARED_REF_KEY_AT)
  return ref
}

/** The txs key a stored log value refers to, or null if the value is a record of its own. */
export function sharedRefKey(value: Uint8Array): Buffer | null {
  const view = asBuffer(value)
  const chain = view.length - UNCHAINED_SHARED_REF_BYTES
  if (chain !== 0 && chain !== CHAIN_SHORT_BYTES && chain !== CHAIN_LONG_BYTES) return null
  if (view.readUInt32BE(SHARED_REF_MARK_AT) !== SHARED_RECORD_MARK) return null
  return view.subarray(SHARED_REF_KEY_AT, UNCHAINED_SHARED_REF_BYTES)
}

/**
 * Writes the chain of a log entry (a record or a reference, encoded with room for the long
 * form) keyed at transaction `keyTx` and stored after `previous`, the shape's last offset until
 * then (virtual: it is the shape's first entry, chained to 0_0). Returns the bytes to store:
 * the entry, shorter by the room the short form did not need.
 */
export function chainEntry(value: Uint8Array, keyTx: number, previous: LogOffset): Buffer {
  const view = asBuffer(value)
  const tx = previous.isVirtual ? 0 : previous.tx
  const op = previous.isVirtual ? 0 : previous.op
  const txDelta = keyTx - tx
  if (txDelta < 2 ** 32 && op < 2 ** 32) {
    const end = view.length - (CHAIN_LONG_BYTES - CHAIN_SHORT_BYTES)
    view.writeUInt32BE(txDelta, end - CHAIN_SHORT_BYTES)
    view.writeUInt32BE(op, end - CHAIN_SHORT_BYTES + 4)
    view[end - 1] = CHAIN_SHORT
    return view.subarray(0, end)
  }
  const end = view.length
  writeU64(view, tx, end - CHAIN_LONG_BYTES)
  writeU64(view, op, end - CHAIN_LONG_BYTES + 8)
  view[end - 1] = CHAIN_LONG
  return view
}

/**
 * The offset a stored log entry keyed at transaction `keyTx` (its seal checked) names as the
 * shape's entry before it, or null for an entry of data format 2, which names none.
 */
export function previousEntry(value: Uint8Array, keyTx: number): LogOffset | null {
  const view = asBuffer(value)
  const end = view.length
  if (end === UNCHAINED_SHARED_REF_BYTES && view.readUInt32BE(SHARED_REF_MARK_AT) === SHARED_RECORD_MARK) return null
  const mark = view[end - 1]
  let tx: number
  let op: number
  if (mark === CHAIN_SHORT && end >= CHAIN_SHORT_BYTES) {
    tx = keyTx - view.readUInt32BE(end - CHAIN_SHORT_BYTES)
    op = view.readUInt32BE(end - CHAIN_SHORT_BYTES + 4)
  } else if (mark === CHAIN_LONG && end >= CHAIN_LONG_BYTES) {
    tx = readU64(view, end - CHAIN_LONG_BYTES)
    op = readU64(view, end - CHAIN_LONG_BYTES + 8)
  } else return null
  if (!(tx >= 0 && Number.isSafeInteger(tx) && Number.isSafeInteger(op))) {
    throw new DamagedRecord(`a log chain names ${tx}_${op}`)
  }
  return LogOffset.of(tx, op)
}

/**
 * Checks that a log entry chained to `previous` may follow `last`, the entry a read found
 * before it, or, for the read's first entry (`last` null), that it starts at or before `since`:
 * otherwise an entry between them is missing. Entries of data format 2 (null) are not checked.
 */
export function checkChain(previous: LogOffset | null, last: LogOffset | null, since: LogOffset): void {
  if (previous === null) return
  if (last === null ? previous.isAfter(since) : !previous.equals(last)) {
    throw new DamagedRecord(`the log lacks the entry at ${previous}, after ${last ?? since}`)
  }
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
  // Field by field, no spread (write-ops.ts, transactionAppend).
  return {
    bytes,
    rowCount: txn.rowCount - skipped,
    firstTx,
    firstOp,
    lastTx: txn.lastTx,
    lastOp: txn.lastOp,
    jsonBytes: txn.jsonBytes - skippedJsonBytes,
  }
}

/** A Buffer over the same memory (a record that crossed a thread boundary arrives as a Uint8Array). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
