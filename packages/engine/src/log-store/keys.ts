import type { LogOffset } from '../log-offset.ts'

/**
 * Binary LMDB keys, big-endian so byte order is offset order. Every key starts with the
 * shape's u32 id, so one shape's records are one contiguous key range.
 *
 *   log      [shapeId u32][tx u64][op u64]       a record of one transaction's rows, keyed by its LAST row
 *   chunks   [shapeId u32][tx u64][op u64]       a closed log chunk, keyed by its last (inclusive) offset
 *   snapshot [shapeId u32][chunk u32][part u32]  a part of snapshot chunk n
 *   txs      [id u64]                            a record shared by many shapes' logs (see log-record.ts)
 */
const TWO_32 = 2 ** 32
export const OFFSET_KEY_BYTES = 20
export const SNAPSHOT_KEY_BYTES = 12

export function writeU64(buffer: Buffer, value: number, at: number): void {
  buffer.writeUInt32BE(Math.floor(value / TWO_32), at)
  buffer.writeUInt32BE((value % TWO_32) >>> 0, at + 4)
}

/**
 * A u64 written by writeU64. A value under 2^32 is returned as the low word itself: the sum with
 * `0 * 2^32` would be a heap number even when small, and one such number stored in a LogOffset
 * turns every LogOffset's field into a boxed double (the read-path hit measured +18 to +27 %).
 */
export function readU64(buffer: Buffer, at: number): number {
  return u64(buffer.readUInt32BE(at), buffer.readUInt32BE(at + 4))
}

/** readU64 through a DataView. */
export function readU64View(view: DataView, at: number): number {
  return u64(view.getUint32(at), view.getUint32(at + 4))
}

function u64(high: number, low: number): number {
  return high === 0 ? low : high * TWO_32 + low
}

/** Key of `offset` in the shape's log or chunk range. `inf` sorts after every op. */
export function offsetKey(shapeId: number, offset: LogOffset): Buffer {
  return offsetKeyOf(shapeId, offset.tx, offset.op)
}

export function offsetKeyOf(shapeId: number, tx: number, op: number): Buffer {
  const key = Buffer.allocUnsafe(OFFSET_KEY_BYTES)
  key.writeUInt32BE(shapeId, 0)
  writeU64(key, tx, 4)
  if (op === Number.POSITIVE_INFINITY) key.fill(0xff, 12)
  else writeU64(key, op, 12)
  return key
}

/** The last snapshot chunk number a key can hold (32 bits): a snapshot has no chunk after it. */
export const SNAPSHOT_CHUNK_LAST = 2 ** 32 - 1

/** The keys of snapshot chunk `chunk`'s parts, from part `fromPart` on. */
export function snapshotChunkRange(shapeId: number, chunk: number, fromPart: number): { start: Buffer; end: Buffer } {
  const end = chunk < SNAPSHOT_CHUNK_LAST ? snapshotKey(shapeId, chunk + 1, 0) : snapshotKey(shapeId + 1, 0, 0)
  return { start: snapshotKey(shapeId, chunk, fromPart), end }
}

export function snapshotKey(shapeId: number, chunk: number, part: number): Buffer {
  const key = Buffer.allocUnsafe(SNAPSHOT_KEY_BYTES)
  key.writeUInt32BE(shapeId, 0)
  key.writeUInt32BE(chunk, 4)
  key.writeUInt32BE(part, 8)
  return key
}

/** The key of a shared record in the `txs` database: a per-partition sequence number. */
export function txsKey(id: number): Buffer {
  const key = Buffer.allocUnsafe(8)
  writeU64(key, id, 0)
  return key
}

/** The first key of the shape's range and the first key past it, for any of the three layouts. */
export function shapeRange(shapeId: number): { start: Buffer; end: Buffer } {
  const start = Buffer.alloc(4)
  start.writeUInt32BE(shapeId, 0)
  const end = Buffer.alloc(4)
  // shapeId + 1 may be 2^32 for the last id: then the range runs to the end of the keyspace.
  if (shapeId === 0xffff_ffff) return { start, end: Buffer.alloc(OFFSET_KEY_BYTES + 1, 0xff) }
  end.writeUInt32BE(shapeId + 1, 0)
  return { start, end }
}
