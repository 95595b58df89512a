import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type Database, open, type RootDatabase } from 'lmdb'
import { EngineError, ErrorCode } from '../errors.ts'
import { closing } from '../lmdb-ranges.ts'
import { LogOffset } from '../log-offset.ts'
import { checkSpan, corruptRead, DamagedRecord } from './damaged-record.ts'
import { offsetKey, readU64, shapeRange, snapshotChunkRange } from './keys.ts'
import { previousEntry, sharedRefKey } from './log-record.ts'
import { SHARED_COUNT_BYTES } from './record-layout.ts'
import { decodeMetaValue, type ShapeMeta } from './shape-meta.ts'
import { TailPadder } from './tail-padding.ts'
import { checkSeal } from './value-seal.ts'
import { guardValueSizes, valuesInRange } from './value-size-guard.ts'

/** The five databases of one partition's environment (see PartitionStore). */
export interface PartitionDatabases {
  readonly env: RootDatabase
  readonly log: Database<Buffer, Buffer>
  readonly chunks: Database<Buffer, Buffer>
  readonly snapshot: Database<Buffer, Buffer>
  readonly meta: Database<Buffer, number>
  readonly txs: Database<Buffer, Buffer>
}

export interface PartitionOptions {
  readonly mapSizeBytes: number
}

/**
 * Commits per partition, counted by the writers after each commit (a SharedArrayBuffer word
 * each when they run on other threads). A reader renews its LMDB read transaction only when its
 * partition's count moved.
 */
export type CommitCounters = Int32Array

/** Records read per batch by range readers: a batch is read synchronously, then streamed. */
const RANGE_BATCH_RECORDS = 64

/**
 * One partition: an LMDB environment `<dir>/partitions/<n>` holding the logs, log chunk
 * index, snapshot chunks, shared records and metadata of the shapes assigned to it, in five databases of the
 * same environment so one commit moves a shape's log and metadata together.
 *
 * Owner: exactly one PartitionWriter writes a partition; any number of readers on any thread
 * read it (LMDB MVCC: readers never block the writer and never see a partial commit).
 */
export class PartitionStore implements PartitionDatabases {
  readonly index: number
  /** The environment's directory. */
  readonly path: string
  /** The partition's data file, as errors name it (made once: every read passes it along). */
  readonly file: string
  readonly env: RootDatabase
  readonly log: Database<Buffer, Buffer>
  readonly chunks: Database<Buffer, Buffer>
  readonly snapshot: Database<Buffer, Buffer>
  readonly meta: Database<Buffer, number>
  readonly txs: Database<Buffer, Buffer>

  /** The data file's length as last padded (tail-padding.ts); 0 before the first time. */
  readonly #tail: TailPadder
  #commitCounters: CommitCounters | null = null
  #commitsSeen = -1
  /** Shape metadata records read (the read path's misses and the writers' first touch of a shape). */
  metaRecordsRead = 0

  constructor(dir: string, index: number, options: PartitionOptions) {
    const path = join(dir, 'partitions', String(index))
    mkdirSync(path, { recursive: true })
    this.index = index
    this.path = path
    this.file = join(path, 'data.mdb')
    // Durable commits (no noSync; the writer awaits each commit's flush), overlappingSync left at
    // lmdb-js' default, map preset large: the file grows only as used (docs/design/
    // log-layout-notes.md: presetting is free and avoids regrowth). No event-turn batching: each
    // commit is the writer's explicit transaction (and see lmdb-settled.ts, lmdb-js issue #368).
    this.env = open({
      path,
      maxDbs: 8,
      mapSize: options.mapSizeBytes,
      noSync: false,
      useWritemap: false,
      eventTurnBatching: false,
    })
    this.log = this.env.openDB({ name: 'log', encoding: 'binary', keyEncoding: 'binary' })
    this.chunks = this.env.openDB({ name: 'chunks', encoding: 'binary', keyEncoding: 'binary' })
    this.snapshot = this.env.openDB({ name: 'snapshot', encoding: 'binary', keyEncoding: 'binary' })
    this.meta = this.env.openDB({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    this.txs = this.env.openDB({ name: 'txs', encoding: 'binary', keyEncoding: 'binary' })
    for (const db of [this.log, this.chunks, this.snapshot, this.meta, this.txs]) guardValueSizes(db)
    this.#tail = new TailPadder(this.env, this.file)
  }

  /**
   * Keeps zeros past the last page LMDB uses (tail-padding.ts), so a read that follows a pointer
   * of a damaged page off the end fails its seal instead of killing the process. The partition's
   * writer calls it when it starts and after each commit. Best effort: the commit before it is
   * durable either way, so a failure here fails nothing; the next call tries again.
   */
  padTail(): void {
    this.#tail.pad()
  }

  /** Makes the environment's creation durable: its file, and its name in the directories above. */
  syncCreation(): void {
    for (const target of [this.file, this.path, dirname(this.path)]) {
      const fd = openSync(target, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
  }

  /**
   * The record of the log value stored under `key`, its seal checked: the value itself, or the
   * shared record it refers to (without its reference count). Throws DamagedRecord.
   */
  resolveRecord(key: Buffer, value: Buffer): Buffer {
    checkSeal(key, value, 'log value')
    const txsKey = sharedRefKey(value)
    if (txsKey === null) return value
    const shared = this.txs.get(txsKey)
    if (shared === undefined) throw new DamagedRecord('a log reference points to no shared record')
    checkSpan(0, SHARED_COUNT_BYTES, shared.length, 'shared record')
    const record = shared.subarray(SHARED_COUNT_BYTES, shared.length)
    checkSeal(txsKey, record, 'shared record')
    return record
  }

  /** The writers count their commits here (see CommitCounters). */
  useCommitCounters(counters: CommitCounters): void {
    this.#commitCounters = counters
  }

  /**
   * Makes the next read see every commit, also those of writer threads: an lmdb-js read
   * transaction does not see another thread's commit until it is renewed, and a caller that
   * learned of a commit through the shared table must find its data (writers count a commit
   * before they publish its keys). (A commit on this thread is seen anyway: lmdb-js resets the
   * view after each of its own commits.) Every read method below starts here (#read). Without
   * counters it renews every time.
   */
  #renew(): void {
    const counters = this.#commitCounters
    if (counters !== null) {
      const commits = Atomics.load(counters, this.index)
      if (commits === this.#commitsSeen) return
      this.#commitsSeen = commits
    }
    this.env.resetReadTxn()
  }

  /** Runs a read of shape `shapeId`, renewed first (#renew), damage checked (checkedRead). */
  #read<T>(shapeId: number, read: () => T): T {
    this.#renew()
    return this.checkedRead(shapeId, read)
  }

  /**
   * Runs `read` of shape `shapeId` in the current read transaction: damage met on the way, by
   * LMDB in its pages or by the decoders, is STORAGE_CORRUPT naming the file and the shape
   * (corruptRead). LMDB invalidates a read transaction that met a damaged page (every later read
   * in it fails with MDB_BAD_TXN), so after damage the transaction is dropped: the next read, of
   * another shape, starts a fresh one (kept, it failed that read as damage of the other shape).
   */
  checkedRead<T>(shapeId: number, read: () => T): T {
    try {
      return corruptRead(this.file, shapeId, read)
    } catch (error) {
      if (error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT) this.env.resetReadTxn()
      throw error
    }
  }

  readMeta(shapeId: number): ShapeMeta {
    this.metaRecordsRead++
    return this.#read(shapeId, () => decodeMetaValue(shapeId, this.meta.getBinaryFast(shapeId)))
  }

  /**
   * The shape's last transaction offset as the current read transaction sees it (not renewed,
   * not counted as a read-path miss): how far a range read in the same transaction must find
   * the log (log-json.ts).
   */
  lastTxnOffsetInView(shapeId: number): LogOffset {
    return decodeMetaValue(shapeId, this.meta.getBinaryFast(shapeId)).lastTxnOffset
  }

  /**
   * Up to RANGE_BATCH_RECORDS log records whose last row is after `after`, in order, each with
   * the offset its entry names as the one before it (null: data format 2). A record is keyed by
   * its last row, so the first one returned may still hold rows at or before `after`.
   */
  logRecordsAfter(
    shapeId: number,
    after: LogOffset,
  ): Array<{ key: Buffer; value: Buffer; previous: LogOffset | null }> {
    const { end } = shapeRange(shapeId)
    const start = offsetKey(shapeId, after)
    return this.#read(shapeId, () => {
      const records = [...valuesInRange(this.log, { start, end, limit: RANGE_BATCH_RECORDS + 1 })]
      if (records.length > 0 && Buffer.compare(records[0]?.key as Buffer, start) === 0) records.shift()
      return records.slice(0, RANGE_BATCH_RECORDS).map(({ key, value }) => {
        const record = this.resolveRecord(key, value)
        return { key, value: record, previous: previousEntry(value, readU64(key, 4)) }
      })
    })
  }

  /** The last offset of the first closed chunk that ends after `offset`, or null (the open chunk). */
  chunkEndAfter(shapeId: number, offset: LogOffset): LogOffset | null {
    const { end } = shapeRange(shapeId)
    const start = offsetKey(shapeId, offset)
    return this.#read(shapeId, () => {
      for (const key of closing(this.chunks.getKeys({ start, end, limit: 2 }))) {
        if (Buffer.compare(key, start) === 0) continue
        return LogOffset.of(readU64(key, 4), readU64(key, 12))
      }
      return null
    })
  }

  /** The parts of snapshot chunk `chunk` from part number `fromPart` on, in order, their seals checked. */
  snapshotParts(shapeId: number, chunk: number, fromPart: number): Buffer[] {
    const range = snapshotChunkRange(shapeId, chunk, fromPart)
    return this.#read(shapeId, () =>
      [...valuesInRange(this.snapshot, range)].map(({ key, value }) => {
        checkSeal(key, value, 'snapshot part')
        return value
      }),
    )
  }

  close(): Promise<void> {
    return this.env.close()
  }
}
