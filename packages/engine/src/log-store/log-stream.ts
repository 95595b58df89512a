import { EngineError, ErrorCode } from '../errors.ts'
import { LogOffset } from '../log-offset.ts'
import type { ReadPathKeys } from '../read-path/read-path-keys.ts'
import { corruptRead, DamagedRecord, damagedData } from './damaged-record.ts'
import { readU64, SNAPSHOT_CHUNK_LAST } from './keys.ts'
import { checkChain, visitLogRecord } from './log-record.ts'
import type { PartitionStore } from './partition-store.ts'
import { isLastPartOfChunk, snapshotPartRows } from './snapshot-part.ts'

/**
 * Streams a shape's entries with offsets in (since, upTo], across the snapshot region (chunk n
 * holds the rows at `0_n`) and the log. Reads happen in synchronous batches between yields, so
 * no LMDB read transaction stays open across an await. A shape removed mid-stream ends it with
 * SHAPE_REMOVED once a read finds its data gone (never a shorter answer that looks whole). A
 * snapshot still being written is tailed: the reader gets what is committed and waits for the
 * rest (Electric's behaviour).
 */
export interface LogStreamSource {
  readonly store: PartitionStore
  readonly shapeId: number
  readonly stallTimeoutMs: number
  /** The shape's current keys; undefined once it is removed. */
  keys(): ReadPathKeys | undefined
  /** The attempt this process is writing (or about to write) of the shape's snapshot; null if none. */
  snapshotAttempt(): SnapshotAttempt | null
  /** Resolves true at the shape's next publish, false after `timeoutMs` without one. */
  nextChange(timeoutMs: number): Promise<boolean>
  /** Throws ENGINE_CLOSED once the engine is closed. */
  assertOpen(): void
}

/**
 * One makeNewSnapshot call. A retry after a failed attempt writes its own rows under the same
 * part keys, so a reader that tailed the failed attempt must stop, not go on with the retry's
 * parts from where it was (it would yield rows of two snapshots).
 */
export interface SnapshotAttempt {
  /**
   * Resolves true once the attempt's start is committed (the parts an earlier attempt left are
   * gone by then), false if it could not start (the snapshot was complete already).
   */
  readonly started: Promise<boolean>
  /** Set before the attempt stops being the shape's current one, if it failed. */
  failed: boolean
}

/**
 * `committed`: the shape's latest offset when the read began. Everything up to it is stored,
 * so a scan that ends before it (while the shape is still there) met damage: a snapshot chunk
 * without its last part, a log without the record of that row.
 */
export async function* readLogStream(
  source: LogStreamSource,
  since: LogOffset,
  upTo: LogOffset,
  committed: LogOffset,
): AsyncGenerator<string> {
  if (!upTo.isAfter(since)) return
  if (since.isBefore(LogOffset.LAST_BEFORE_REAL)) {
    const attempt = await beforeSnapshotRead(source)
    let chunk = since.isBeforeAll ? 0 : since.op + 1
    // A client's offset may name any chunk; none is stored past SNAPSHOT_CHUNK_LAST.
    while (chunk <= SNAPSHOT_CHUNK_LAST && !LogOffset.snapshotChunk(chunk).isAfter(upTo)) {
      const exists = yield* readSnapshotChunk(source, chunk, attempt)
      if (!exists) break
      chunk++
    }
  }
  if (upTo.isAfter(LogOffset.LAST_BEFORE_REAL)) {
    yield* readLog(source, LogOffset.max(since, LogOffset.LAST_BEFORE_REAL), upTo, LogOffset.min(upTo, committed))
  }
}

/**
 * Never yield the rows of an interrupted attempt: wait for a running attempt to have dropped
 * them, and refuse an incomplete snapshot that nobody writes before yielding anything. Returns
 * the attempt being tailed (null: the snapshot is complete).
 */
async function beforeSnapshotRead(source: LogStreamSource): Promise<SnapshotAttempt | null> {
  const attempt = source.snapshotAttempt()
  if (attempt !== null && (await attempt.started)) return attempt
  const keys = source.keys()
  if (keys === undefined || keys.lastSnapshotChunk !== null) return null
  if (!keys.snapshotStarted) throw notStarted()
  throw incomplete()
}

/**
 * Yields the rows of snapshot chunk n; returns false if the complete snapshot has no chunk n.
 * `attempt`: the one being tailed, checked before each read of parts (a complete snapshot is
 * never written again, so once it completed nothing else can appear under its keys).
 */
async function* readSnapshotChunk(
  source: LogStreamSource,
  chunk: number,
  attempt: SnapshotAttempt | null,
): AsyncGenerator<string, boolean> {
  let nextPart = 0
  let checkedComplete = false
  for (;;) {
    source.assertOpen()
    if (attempt?.failed === true) throw incomplete()
    const { store, shapeId } = source
    const partsBefore = nextPart
    for (const part of store.snapshotParts(shapeId, chunk, nextPart)) {
      nextPart++
      const rows = corruptRead(store.file, shapeId, () => snapshotPartRows(part))
      const last = corruptRead(store.file, shapeId, () => isLastPartOfChunk(part))
      yield* rows
      if (last) return true
    }
    // Parts committed while the consumer took these rows woke no one (nobody waited then): read
    // again before waiting, and wait only once a read finds nothing new.
    if (nextPart > partsBefore) continue
    const keys = source.keys()
    if (keys === undefined) throw removedMidStream()
    if (keys.lastSnapshotChunk !== null) {
      if (chunk > keys.lastSnapshotChunk) return false
      // Complete and chunk n exists: read once more (it may have committed since the last
      // read). Parts missing after that, with the shape still there, are damage: a removal
      // drops the shape (keys() undefined above) before its data.
      if (checkedComplete) throw missing(source, `snapshot chunk ${chunk} ends without its last part`)
      checkedComplete = true
      continue
    }
    if (source.snapshotAttempt() === null) throw keys.snapshotStarted ? incomplete() : notStarted()
    const changed = await source.nextChange(source.stallTimeoutMs)
    if (!changed) {
      throw new EngineError(ErrorCode.SNAPSHOT_STALLED, `no snapshot rows for ${source.stallTimeoutMs} ms`)
    }
  }
}

async function* readLog(
  source: LogStreamSource,
  since: LogOffset,
  upTo: LogOffset,
  mustReach: LogOffset,
): AsyncGenerator<string> {
  let after = since
  // The last row seen: the scan must get to mustReach (see readLogStream).
  let reachedTx = since.tx
  let reachedOp = since.op
  // The last record read: the next one must name it as its predecessor (checkChain).
  let last: LogOffset | null = null
  for (;;) {
    source.assertOpen()
    const records = source.store.logRecordsAfter(source.shapeId, after)
    if (records.length === 0) {
      if (mustReach.isAfter(LogOffset.of(reachedTx, reachedOp))) {
        if (source.keys() === undefined) throw removedMidStream()
        throw missing(source, `the log ends at ${reachedTx}_${reachedOp}, before ${mustReach}`)
      }
      return
    }
    for (const { key, value, previous } of records) {
      const rows: string[] = []
      let pastEnd = false
      const keyOffset = LogOffset.of(readU64(key, 4), readU64(key, 12))
      corruptRead(source.store.file, source.shapeId, () => {
        checkChain(previous, last, since)
        visitLogRecord(value, (tx, op, jsonStart, jsonEnd) => {
          reachedTx = tx
          reachedOp = op
          if (isAfterParts(tx, op, upTo)) {
            pastEnd = true
            return false
          }
          if (isAfterParts(tx, op, after)) rows.push(value.toString('utf8', jsonStart, jsonEnd))
          return true
        })
      })
      yield* rows
      if (pastEnd) return
      after = keyOffset
      last = keyOffset
    }
  }
}

function isAfterParts(tx: number, op: number, offset: LogOffset): boolean {
  return tx !== offset.tx ? tx > offset.tx : op > offset.op
}

function removedMidStream(): EngineError {
  return new EngineError(ErrorCode.SHAPE_REMOVED, 'the shape was removed during the read')
}

function notStarted(): EngineError {
  return new EngineError(ErrorCode.SNAPSHOT_NOT_STARTED, 'the snapshot of this shape has not started')
}

function incomplete(): EngineError {
  return new EngineError(
    ErrorCode.SNAPSHOT_INCOMPLETE,
    'the snapshot of this shape is incomplete and nobody is writing it (interrupted): call makeNewSnapshot again',
  )
}

/** STORAGE_CORRUPT for data the shape's keys say is stored and the scan did not find. */
function missing(source: LogStreamSource, what: string): Error {
  return damagedData(source.store.file, source.shapeId, new DamagedRecord(what))
}
