import { readU64 } from './keys.ts'

/**
 * A log record: the rows one transaction appends to one shape, framed in one LMDB value
 * (one record per (shape, transaction): see log-layout-notes, layout A2).
 *
 *   [u32 count] then per row: [u64 tx][u64 op][u8 op type][u32 key bytes][key][u32 json bytes][json]
 *
 * The JSON is client-ready and never parsed by the engine.
 */
export const OP_TYPES = { insert: 1, update: 2, delete: 3 } as const
export type OpType = keyof typeof OP_TYPES

/** A row as the writer encodes it: byte lengths are measured once, during validation. */
export interface EncodableRow {
  readonly tx: number
  readonly op: number
  readonly opType: OpType
  readonly key: string
  readonly keyBytes: number
  readonly json: string
  readonly jsonBytes: number
}

const ROW_HEADER_BYTES = 8 + 8 + 1 + 4 + 4

export function encodeLogRecord(rows: readonly EncodableRow[]): Buffer {
  let size = 4
  for (const row of rows) size += ROW_HEADER_BYTES + row.keyBytes + row.jsonBytes
  const buffer = Buffer.allocUnsafe(size)
  buffer.writeUInt32BE(rows.length, 0)
  let at = 4
  for (const row of rows) {
    buffer.writeUInt32BE(Math.floor(row.tx / 2 ** 32), at)
    buffer.writeUInt32BE((row.tx % 2 ** 32) >>> 0, at + 4)
    buffer.writeUInt32BE(Math.floor(row.op / 2 ** 32), at + 8)
    buffer.writeUInt32BE((row.op % 2 ** 32) >>> 0, at + 12)
    buffer.writeUInt8(OP_TYPES[row.opType], at + 16)
    buffer.writeUInt32BE(row.keyBytes, at + 17)
    at += 21
    at += buffer.write(row.key, at, 'utf8')
    buffer.writeUInt32BE(row.jsonBytes, at)
    at += 4
    at += buffer.write(row.json, at, 'utf8')
  }
  return buffer
}

/**
 * A shared record (layout A3 of log-layout-notes): when one transaction's rows go unchanged to
 * many shapes of a partition, they are stored once in the `txs` database as
 * `[u32 reference count][record]`, and each shape's log gets a 12-byte reference
 * `[u32 SHARED_RECORD_MARK][u64 txs id]` instead of its own copy. No real record starts with the
 * mark: a record's row count is at most TRANSACTION_ITEMS_MAX.
 */
export const SHARED_RECORD_MARK = 0xffff_ffff
export const SHARED_REF_BYTES = 12

export function encodeSharedRef(txsKey: Buffer): Buffer {
  const ref = Buffer.allocUnsafe(SHARED_REF_BYTES)
  ref.writeUInt32BE(SHARED_RECORD_MARK, 0)
  txsKey.copy(ref, 4)
  return ref
}

/** The txs key a log value refers to, or null if the value is a record of its own. */
export function sharedRefKey(value: Buffer): Buffer | null {
  return value.length === SHARED_REF_BYTES && value.readUInt32BE(0) === SHARED_RECORD_MARK ? value.subarray(4) : null
}

/** Calls `visit` with each row's offset and the byte range of its JSON; stops when it returns false. */
export function visitLogRecord(
  record: Buffer,
  visit: (tx: number, op: number, jsonStart: number, jsonEnd: number) => boolean,
): void {
  const count = record.readUInt32BE(0)
  let at = 4
  for (let i = 0; i < count; i++) {
    const tx = readU64(record, at)
    const op = readU64(record, at + 8)
    const keyBytes = record.readUInt32BE(at + 17)
    at += 21 + keyBytes
    const jsonBytes = record.readUInt32BE(at)
    at += 4
    if (!visit(tx, op, at, at + jsonBytes)) return
    at += jsonBytes
  }
}
