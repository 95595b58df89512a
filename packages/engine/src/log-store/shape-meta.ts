import { LogOffset } from '../log-offset.ts'
import type { PgSnapshot } from '../pg-snapshot.ts'

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

/** The msgpack form: offsets as [tx, op] (op Infinity for inf). */
export interface StoredShapeMeta {
  lastTxnOffset: [number, number]
  pgSnapshot: PgSnapshot | null
  snapshotStarted: boolean
  lastSnapshotChunk: number | null
  openChunkBytes: number
}

export function toStored(meta: ShapeMeta): StoredShapeMeta {
  return { ...meta, lastTxnOffset: [meta.lastTxnOffset.tx, meta.lastTxnOffset.op] }
}

export function fromStored(stored: StoredShapeMeta | undefined): ShapeMeta {
  if (stored === undefined) return NEW_SHAPE_META
  return { ...stored, lastTxnOffset: LogOffset.of(stored.lastTxnOffset[0], stored.lastTxnOffset[1]) }
}
