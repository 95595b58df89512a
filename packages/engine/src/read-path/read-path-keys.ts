import { LogOffset } from '../log-offset.ts'
import type { ShapeMeta } from '../log-store/shape-meta.ts'
import type { PgSnapshot } from '../pg-snapshot.ts'

/**
 * What the main thread needs to answer "where is this shape?" without touching the writer:
 * the read-path keys of Electric's storage (after PR #3572), with the offsets already resolved
 * so that a hit allocates nothing.
 */
export interface ReadPathKeys {
  /** fetchLatestOffset's answer: the last complete transaction readers may see. */
  readonly latestOffset: LogOffset
  /** fetchLastPersistedOffset's answer: the last transaction known durable. */
  readonly lastPersistedOffset: LogOffset
  readonly pgSnapshot: PgSnapshot | null
  readonly snapshotStarted: boolean
  readonly lastSnapshotChunk: number | null
}

/**
 * Electric's fetch_latest_offset rule: the last transaction's offset; with no transaction yet
 * (the offset is virtual), the last snapshot chunk `0_n` if the snapshot is complete, else `0_inf`.
 */
export function resolveOffset(lastTxnOffset: LogOffset, lastSnapshotChunk: number | null): LogOffset {
  if (!lastTxnOffset.isVirtual) return lastTxnOffset
  return lastSnapshotChunk === null ? LogOffset.LAST_BEFORE_REAL : LogOffset.snapshotChunk(lastSnapshotChunk)
}

/** The keys of a committed meta record: every commit is durable, so visible == persisted. */
export function readPathKeysOf(meta: ShapeMeta): ReadPathKeys {
  const offset = resolveOffset(meta.lastTxnOffset, meta.lastSnapshotChunk)
  return {
    latestOffset: offset,
    lastPersistedOffset: offset,
    pgSnapshot: meta.pgSnapshot,
    snapshotStarted: meta.snapshotStarted,
    lastSnapshotChunk: meta.lastSnapshotChunk,
  }
}
