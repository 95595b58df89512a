import { checkSpan } from './damaged-record.ts'
import { LAST_PART_OF_CHUNK, PART_FLAGS_AT, PART_HEADER_BYTES, PART_ROW_BYTES_BYTES } from './record-layout.ts'

/**
 * A part of a snapshot chunk: the rows committed together, so readers can tail a snapshot
 * while it is written (layout in record-layout.ts). The flag tells a reader whether the chunk
 * continues in a later part. Encoded on the main thread; the writer stores the bytes as they are.
 */
export function encodeSnapshotPart(
  rows: readonly string[],
  rowBytes: number,
  lastOfChunk: boolean,
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const buffer = allocate(snapshotPartBytes(rows.length, rowBytes))
  buffer.writeUInt8(lastOfChunk ? LAST_PART_OF_CHUNK : 0, PART_FLAGS_AT)
  let at = PART_HEADER_BYTES
  for (const row of rows) {
    const written = buffer.write(row, at + PART_ROW_BYTES_BYTES, 'utf8')
    buffer.writeUInt32BE(written, at)
    at += PART_ROW_BYTES_BYTES + written
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
