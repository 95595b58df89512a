import type { ByteBudget } from '../byte-budget.ts'
import { EngineError, ErrorCode } from '../errors.ts'
import { SNAPSHOT_PART_BYTES, SNAPSHOT_ROW_BYTES_MAX } from '../limits.ts'
import { isWellFormedText } from '../well-formed.ts'
import type { EncodedSnapshotPart } from '../write-ops.ts'
import { encodeSnapshotPart, snapshotPartBytes } from './snapshot-part.ts'

/**
 * Cuts a snapshot's rows into chunks `0_0`, `0_1`, ... the way Electric does: each row counts
 * its JSON bytes + 1, and a chunk ends after the row that reaches the threshold. Within a
 * chunk, rows are committed in parts of about SNAPSHOT_PART_BYTES, so readers can tail the
 * snapshot while it is written; each part is encoded here, on the calling thread, into the
 * bytes the writer stores (in `allocate`'s memory). A part's bytes are taken from `inFlight`
 * before it is encoded and handed back once its write has settled, so concurrent snapshots hold
 * a bounded amount of encoded data between them. The last write carries the last chunk's
 * number; an empty snapshot is one empty chunk `0_0`.
 */
export async function chunkSnapshot(
  rows: AsyncIterable<string> | Iterable<string>,
  chunkBytesThreshold: number,
  inFlight: ByteBudget,
  allocate: (bytes: number) => Buffer,
  write: (part: EncodedSnapshotPart) => Promise<void>,
): Promise<number> {
  let chunk = 0
  let part = 0
  let chunkBytes = 0
  let partRows: string[] = []
  let partBytes = 0
  const flush = async (lastOfChunk: boolean, lastSnapshotChunk: number | null) => {
    const size = snapshotPartBytes(partRows.length, partBytes)
    await inFlight.acquire(size)
    try {
      const bytes = encodeSnapshotPart(partRows, partBytes, lastOfChunk, allocate)
      await write({ chunk, part, rowCount: partRows.length, lastOfChunk, lastSnapshotChunk, bytes })
    } finally {
      inFlight.release(size)
    }
    partRows = []
    partBytes = 0
    part = lastOfChunk ? 0 : part + 1
  }
  let index = 0
  for await (const row of rows) {
    if (typeof row !== 'string') {
      throw new EngineError(ErrorCode.INVALID_ITEM, `snapshot row ${index} is not a JSON string`)
    }
    if (!isWellFormedText(row)) {
      throw new EngineError(ErrorCode.INVALID_ITEM, `snapshot row ${index} holds a lone UTF-16 surrogate`)
    }
    const bytes = Buffer.byteLength(row)
    if (bytes > SNAPSHOT_ROW_BYTES_MAX) {
      throw new EngineError(
        ErrorCode.TOO_LARGE,
        `snapshot row ${index} is ${bytes} bytes, over ${SNAPSHOT_ROW_BYTES_MAX}`,
      )
    }
    index++
    partRows.push(row)
    partBytes += bytes
    chunkBytes += bytes + 1
    if (chunkBytes >= chunkBytesThreshold) {
      await flush(true, null)
      chunk++
      chunkBytes = 0
    } else if (partBytes >= SNAPSHOT_PART_BYTES) {
      await flush(false, null)
    }
  }
  // The stream ended right after a chunk closed: that chunk is the last one (no empty chunk).
  if (chunk > 0 && part === 0 && partRows.length === 0) {
    chunk--
    const bytes = encodeSnapshotPart([], 0, false, allocate)
    await write({ chunk, part: 0, rowCount: 0, lastOfChunk: false, lastSnapshotChunk: chunk, bytes })
    return chunk
  }
  await flush(true, chunk)
  return chunk
}
