/**
 * A part of a snapshot chunk: the rows committed together, so readers can tail a snapshot
 * while it is written. The flag tells a reader whether the chunk continues in a later part.
 *
 *   [u8 flags] then per row: [u32 json bytes][json]
 */
export const LAST_PART_OF_CHUNK = 1

export function encodeSnapshotPart(rows: readonly string[], rowBytes: number, lastOfChunk: boolean): Buffer {
  const buffer = Buffer.allocUnsafe(1 + 4 * rows.length + rowBytes)
  buffer.writeUInt8(lastOfChunk ? LAST_PART_OF_CHUNK : 0, 0)
  let at = 1
  for (const row of rows) {
    const written = buffer.write(row, at + 4, 'utf8')
    buffer.writeUInt32BE(written, at)
    at += 4 + written
  }
  return buffer
}

export function isLastPartOfChunk(part: Buffer): boolean {
  return (part.readUInt8(0) & LAST_PART_OF_CHUNK) !== 0
}

export function* snapshotPartRows(part: Buffer): Generator<string> {
  let at = 1
  while (at < part.length) {
    const bytes = part.readUInt32BE(at)
    at += 4
    yield part.toString('utf8', at, at + bytes)
    at += bytes
  }
}
