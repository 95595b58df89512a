import { checkSpan } from './damaged-record.ts'
import { LAST_PART_OF_CHUNK, PART_FLAGS_AT, PART_HEADER_BYTES, PART_ROW_BYTES_BYTES } from './record-layout.ts'
import type { WritableBuffer } from './transaction-encoder.ts'

/**
 * A part of a snapshot chunk: the rows committed together, so readers can tail a snapshot
 * while it is written (layout in record-layout.ts). The flag tells a reader whether the chunk
 * continues in a later part. Encoded on the main thread; the writer stores the bytes as they are.
 * Each row is one call to Node's UTF-8 writer, which returns the length it wrote (Buffer's
 * `write` parses its arguments and looks up the encoding on every call, and a separate
 * Buffer.byteLength scans the row again).
 */
export function encodeSnapshotPart(
  rows: readonly string[],
  rowBytes: number,
  lastOfChunk: boolean,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const buffer = allocate(snapshotPartBytes(rows.length, rowBytes)) as WritableBuffer
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  view.setUint8(PART_FLAGS_AT, lastOfChunk ? LAST_PART_OF_CHUNK : 0)
  let at = PART_HEADER_BYTES
  for (const row of rows) {
    const bytes = buffer.utf8Write(row, at + PART_ROW_BYTES_BYTES, buffer.length - at - PART_ROW_BYTES_BYTES)
    view.setUint32(at, bytes)
    at += PART_ROW_BYTES_BYTES + bytes
  }
  return buffer
}

/** Bytes of an encoded part of `rowCount` rows whose JSON takes `rowBytes` bytes. */
export function snapshotPartBytes(rowCount: number, rowBytes: number): number {
  return PART_HEADER_BYTES + PART_ROW_BYTES_BYTES * rowCount + rowBytes
}

export function isLastPartOfChunk(part: Buffer): boolean {
  checkSpan(0, PART_HEADER_BYTES, part.length, 'snapshot part header')
  return (part.readUInt8(PART_FLAGS_AT) & LAST_PART_OF_CHUNK) !== 0
}

/** The part's rows; a length that runs past the part throws DamagedRecord (checked before any row is given). */
export function snapshotPartRows(part: Buffer): string[] {
  const rows: string[] = []
  let at = PART_HEADER_BYTES
  while (at < part.length) {
    checkSpan(at, PART_ROW_BYTES_BYTES, part.length, 'snapshot row length')
    const bytes = part.readUInt32BE(at)
    at += PART_ROW_BYTES_BYTES
    checkSpan(at, bytes, part.length, 'snapshot row')
    rows.push(part.toString('utf8', at, at + bytes))
    at += bytes
  }
  return rows
}
