import { Unpackr } from 'msgpackr'
import { XIP_LIST_MAX } from '../limits.ts'
import { LogOffset } from '../log-offset.ts'
import { NO_XIPS, type PgSnapshot, validatePgSnapshot } from '../pg-snapshot.ts'
import { DamagedRecord } from './damaged-record.ts'
import { readU64, writeU64 } from './keys.ts'
import {
  META_BYTES,
  META_FILTER_TXNS,
  META_FLAGS_AT,
  META_HAS_PG_SNAPSHOT,
  META_HAS_SNAPSHOT_CHUNK,
  META_OP_AT,
  META_OP_IS_INF,
  META_OPEN_CHUNK_BYTES_AT,
  META_PG_SNAPSHOT_BYTES,
  META_SEAL_AT,
  META_SNAPSHOT_CHUNK_AT,
  META_SNAPSHOT_STARTED,
  META_TX_AT,
  META_VALUE_MARK,
} from './record-layout.ts'
import { checkSeal, seal } from './value-seal.ts'

/**
 * One shape's metadata record, in the `meta` database of its partition, written in the same
 * LMDB transaction as the log records it describes: the record can never run ahead of the log.
 * Every commit is durable when it returns, so what a reopened store finds here is exactly the
 * last persisted state.
 */
export interface ShapeMeta {
  /** Last complete transaction in the log; `0_inf` while there is none. */
  readonly lastTxnOffset: LogOffset
  readonly pgSnapshot: PgSnapshot | null
  readonly snapshotStarted: boolean
  /** n of the last snapshot chunk `0_n` once the snapshot is complete; null before. */
  readonly lastSnapshotChunk: number | null
  /** JSON bytes in the open log chunk (chunks close at chunkBytesThreshold). */
  readonly openChunkBytes: number
}

export const NEW_SHAPE_META: ShapeMeta = {
  lastTxnOffset: LogOffset.LAST_BEFORE_REAL,
  pgSnapshot: null,
  snapshotStarted: false,
  lastSnapshotChunk: null,
  openChunkBytes: 0,
}

/**
 * `meta` with the fields of `change` replaced, built field by field (no spread: see transactionAppend in
 * write-ops.ts). No field of a ShapeMeta is ever undefined, so an absent one is simply kept.
 */
export function changedMeta(meta: ShapeMeta, change: Partial<ShapeMeta>): ShapeMeta {
  return {
    lastTxnOffset: change.lastTxnOffset ?? meta.lastTxnOffset,
    pgSnapshot: change.pgSnapshot === undefined ? meta.pgSnapshot : change.pgSnapshot,
    snapshotStarted: change.snapshotStarted ?? meta.snapshotStarted,
    lastSnapshotChunk: change.lastSnapshotChunk === undefined ? meta.lastSnapshotChunk : change.lastSnapshotChunk,
    openChunkBytes: change.openChunkBytes ?? meta.openChunkBytes,
  }
}

/** The stored record of `meta` for shape `shapeId`, sealed (layout: record-layout.ts). */
export function encodeMetaValue(shapeId: number, meta: ShapeMeta): Buffer {
  const { lastTxnOffset, pgSnapshot, lastSnapshotChunk } = meta
  const value = Buffer.allocUnsafe(
    META_BYTES + (pgSnapshot === null ? 0 : META_PG_SNAPSHOT_BYTES + 8 * pgSnapshot.xipList.length),
  )
  const opIsInf = lastTxnOffset.op === Number.POSITIVE_INFINITY
  value[0] = META_VALUE_MARK
  value[META_FLAGS_AT] =
    (meta.snapshotStarted ? META_SNAPSHOT_STARTED : 0) |
    (lastSnapshotChunk === null ? 0 : META_HAS_SNAPSHOT_CHUNK) |
    (opIsInf ? META_OP_IS_INF : 0) |
    (pgSnapshot === null ? 0 : META_HAS_PG_SNAPSHOT | (pgSnapshot.filterTxns ? META_FILTER_TXNS : 0))
  writeU64(value, lastTxnOffset.tx, META_TX_AT)
  writeU64(value, opIsInf ? 0 : lastTxnOffset.op, META_OP_AT)
  writeU64(value, lastSnapshotChunk ?? 0, META_SNAPSHOT_CHUNK_AT)
  writeU64(value, meta.openChunkBytes, META_OPEN_CHUNK_BYTES_AT)
  if (pgSnapshot !== null) {
    let at = META_BYTES
    writeU64(value, pgSnapshot.xmin, at)
    writeU64(value, pgSnapshot.xmax, at + 8)
    value.writeUInt32BE(pgSnapshot.xipList.length, at + 16)
    at += META_PG_SNAPSHOT_BYTES
    for (const xip of pgSnapshot.xipList) {
      writeU64(value, xip, at)
      at += 8
    }
  }
  seal(shapeIdBytes(shapeId), value.subarray(META_SEAL_AT))
  return value
}

/**
 * The metadata of shape `shapeId` from its stored record (undefined: a shape with nothing
 * stored yet). Throws DamagedRecord for a record that fails its seal or does not hold
 * metadata. A record without the mark is from before data format 3: a msgpack map, unsealed,
 * so only its form is checked.
 */
export function decodeMetaValue(shapeId: number, value: Buffer | undefined): ShapeMeta {
  if (value === undefined) return NEW_SHAPE_META
  if (value[0] !== META_VALUE_MARK) return fromMap(unpackMap(value))
  if (value.length < META_BYTES) throw notMeta(`${value.length} bytes`)
  checkSeal(shapeIdBytes(shapeId), value, 'shape metadata', META_SEAL_AT)
  const flags = value[META_FLAGS_AT] as number
  const tx = readU64(value, META_TX_AT)
  const op = flags & META_OP_IS_INF ? Number.POSITIVE_INFINITY : readU64(value, META_OP_AT)
  let pgSnapshot: PgSnapshot | null = null
  if (flags & META_HAS_PG_SNAPSHOT) {
    const xips = value.length < META_BYTES + META_PG_SNAPSHOT_BYTES ? -1 : value.readUInt32BE(META_BYTES + 16)
    if (value.length !== META_BYTES + META_PG_SNAPSHOT_BYTES + 8 * xips) throw notMeta('bad pg snapshot length')
    pgSnapshot = storedSnapshot(value, xips, (flags & META_FILTER_TXNS) !== 0)
  } else if (value.length !== META_BYTES) throw notMeta(`${value.length} bytes`)
  return {
    lastTxnOffset: offset(tx, op),
    pgSnapshot,
    snapshotStarted: (flags & META_SNAPSHOT_STARTED) !== 0,
    lastSnapshotChunk: flags & META_HAS_SNAPSHOT_CHUNK ? readU64(value, META_SNAPSHOT_CHUNK_AT) : null,
    openChunkBytes: readU64(value, META_OPEN_CHUNK_BYTES_AT),
  }
}

/** Decodes format 2's records: msgpack maps, with or without msgpackr's records (each defined inline). */
const unpackr = new Unpackr({ mapsAsObjects: true })

function unpackMap(bytes: Buffer): unknown {
  try {
    return unpackr.unpack(bytes)
  } catch (error) {
    throw notMeta(`does not decode (${(error as Error).message})`)
  }
}

/** A format 2 record: `{ lastTxnOffset: [tx, op], pgSnapshot, snapshotStarted, lastSnapshotChunk, openChunkBytes }`. */
function fromMap(stored: unknown): ShapeMeta {
  if (typeof stored !== 'object' || stored === null) throw notMeta('not a metadata record')
  const { lastTxnOffset, pgSnapshot, snapshotStarted, lastSnapshotChunk, openChunkBytes } = stored as Record<
    string,
    unknown
  >
  if (!Array.isArray(lastTxnOffset) || lastTxnOffset.length !== 2) throw notMeta('no last transaction offset')
  const [tx, op] = lastTxnOffset as unknown[]
  if (typeof tx !== 'number' || typeof op !== 'number') throw notMeta('offset parts are not numbers')
  if (typeof snapshotStarted !== 'boolean') throw notMeta('snapshotStarted is not a boolean')
  if (lastSnapshotChunk !== null && !isCount(lastSnapshotChunk)) throw notMeta('bad last snapshot chunk')
  if (!isCount(openChunkBytes)) throw notMeta('bad open chunk size')
  return {
    lastTxnOffset: offset(tx, op),
    pgSnapshot: pgSnapshot === null ? null : snapshot(pgSnapshot),
    snapshotStarted,
    lastSnapshotChunk,
    openChunkBytes,
  }
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function offset(tx: number, op: number): LogOffset {
  try {
    return LogOffset.of(tx, op)
  } catch {
    throw notMeta(`not a log offset: ${tx}_${op}`)
  }
}

/**
 * A sealed record's pg snapshot, built as it is read (a miss decodes one per shape, so nothing
 * is allocated twice), and still held to what validatePgSnapshot allows.
 */
function storedSnapshot(value: Buffer, xips: number, filterTxns: boolean): PgSnapshot {
  const xmin = readU64(value, META_BYTES)
  const xmax = readU64(value, META_BYTES + 8)
  let xipList = NO_XIPS
  if (xips > 0) {
    const list: number[] = new Array(xips)
    for (let i = 0; i < xips; i++) list[i] = readU64(value, META_BYTES + META_PG_SNAPSHOT_BYTES + 8 * i)
    xipList = list
  }
  if (!Number.isSafeInteger(xmax) || xmin > xmax || xips > XIP_LIST_MAX || !xipList.every((x) => x >= xmin && x < xmax))
    throw notMeta('not a pg snapshot')
  return { xmin, xmax, xipList, filterTxns }
}

function snapshot(value: unknown): PgSnapshot {
  try {
    return validatePgSnapshot(value)
  } catch {
    throw notMeta('not a pg snapshot')
  }
}

function notMeta(why: string): DamagedRecord {
  return new DamagedRecord(`shape metadata: ${why}`)
}

/** The seal's key: the shape id as a big-endian u32 (scratch: the seal is computed at once). */
const idScratch = new Uint8Array(4)
function shapeIdBytes(shapeId: number): Uint8Array {
  idScratch[0] = shapeId >>> 24
  idScratch[1] = shapeId >>> 16
  idScratch[2] = shapeId >>> 8
  idScratch[3] = shapeId
  return idScratch
}
