import { EngineError, ErrorCode } from '../errors.ts'
import type { ShapeHandle } from '../handle.ts'
import { GROUP_COMMIT_ITEMS_MAX, SHARED_RECORD_SHAPES_MIN } from '../limits.ts'
import { LogOffset } from '../log-offset.ts'
import type { PgSnapshot } from '../pg-snapshot.ts'
import { type ReadPathKeys, readPathKeysOf } from '../read-path/read-path-keys.ts'
import type { ShapeRef } from '../shape-ref.ts'
import { storageFailure } from '../storage-failure.ts'
import { offsetKeyOf, readU64, shapeRange, snapshotKey, txsKey } from './keys.ts'
import { type EncodableRow, encodeLogRecord, encodeSharedRef, sharedRefKey } from './log-record.ts'
import type { PartitionStore } from './partition-store.ts'
import type { ShapeMeta } from './shape-meta.ts'
import { toStored } from './shape-meta.ts'
import { encodeSnapshotPart } from './snapshot-part.ts'

/**
 * The single writer of one partition. It owns the writer state of the partition's active
 * shapes (last seen offset, open chunk bytes, pending metadata), group-commits whatever arrives
 * in one event turn in one durable LMDB transaction (`transactionSync`), and after every commit
 * publishes the touched shapes' read-path keys: the writer's value always wins.
 *
 * Runs on whichever thread owns the partition: the main thread (inline runtime) or a writer
 * worker. Callers validate transactions first (validateTransaction); nothing here rejects an
 * item, so a transaction is written whole or, if the commit fails, not at all.
 */
export interface PartitionWriterOptions {
  readonly chunkBytesThreshold: number
  /** Called after each commit with the shape's new keys, and when a shape's state is loaded. */
  readonly publish: (handle: ShapeHandle, keys: ReadPathKeys) => void
  /** Called after each successful commit, before its keys are published. */
  readonly onCommit?: (() => void) | undefined
}

/** A snapshot part as the facade cuts it (see makeNewSnapshot). */
export interface SnapshotPartWrite {
  readonly chunk: number
  readonly part: number
  readonly rows: readonly string[]
  readonly rowBytes: number
  readonly lastOfChunk: boolean
  /** Set on the final write of a snapshot: the number n of its last chunk `0_n`. */
  readonly lastSnapshotChunk: number | null
}

interface ShapeState {
  readonly ref: ShapeRef
  /** The metadata as it will be after the pending batch commits. */
  meta: ShapeMeta
}

interface Batch {
  readonly writes: Array<() => void>
  readonly touched: Map<number, ShapeState>
  items: number
  readonly committed: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

export class PartitionWriter {
  readonly #store: PartitionStore
  readonly #options: PartitionWriterOptions
  readonly #states = new Map<number, ShapeState>()
  #batch: Batch | null = null
  /** The next id for a shared record: one past the highest stored. */
  #nextTxsId: number

  constructor(store: PartitionStore, options: PartitionWriterOptions) {
    this.#store = store
    this.#options = options
    const [last] = store.txs.getKeys({ reverse: true, limit: 1 })
    this.#nextTxsId = last === undefined ? 1 : readU64(last, 0) + 1
  }

  /** Appends one transaction's rows; rows at or below the shape's last offset are skipped. */
  append(ref: ShapeRef, rows: readonly EncodableRow[]): Promise<void> {
    const state = this.#state(ref)
    const fresh = freshRows(rows, state.meta.lastTxnOffset)
    if (fresh.length === 0) return this.#pendingFor(state)
    const batch = this.#appendRecord(state, fresh, encodeLogRecord(fresh))
    return this.#counted(batch, fresh.length)
  }

  /**
   * Appends one transaction's rows to many shapes. The shapes that take every row share one
   * stored copy (a shared record and a reference each); a shape that has seen some of the rows
   * already (a replay) gets its own record of the rest.
   */
  appendShared(refs: readonly ShapeRef[], rows: readonly EncodableRow[]): Promise<void> {
    const whole: ShapeState[] = []
    const done: Promise<void>[] = []
    // Everything this call queues commits together (one commit-size check at the end), so a
    // shared record is never committed apart from the references that count it.
    let items = 0
    for (const ref of refs) {
      const state = this.#state(ref)
      const fresh = freshRows(rows, state.meta.lastTxnOffset)
      if (fresh.length === 0) done.push(this.#pendingFor(state))
      else if (fresh.length === rows.length) whole.push(state)
      else {
        done.push(this.#appendRecord(state, fresh, encodeLogRecord(fresh)).committed)
        items += fresh.length
      }
    }
    if (whole.length > 0 && whole.length < SHARED_RECORD_SHAPES_MIN) {
      const record = encodeLogRecord(rows)
      for (const state of whole) done.push(this.#appendRecord(state, rows, record).committed)
      items += whole.length * rows.length
    } else if (whole.length > 0) {
      const key = txsKey(this.#nextTxsId++)
      const record = encodeLogRecord(rows)
      const shared = Buffer.allocUnsafe(4 + record.length)
      shared.writeUInt32BE(whole.length, 0)
      record.copy(shared, 4)
      const batch = this.#openBatch()
      const { txs } = this.#store
      batch.writes.push(() => txs.putSync(key, shared))
      const ref = encodeSharedRef(key)
      for (const state of whole) done.push(this.#appendRecord(state, rows, ref).committed)
      // The rows are stored once; each further shape costs a reference.
      items += rows.length + whole.length - 1
    }
    if (this.#batch !== null && items > 0) void this.#counted(this.#batch, items)
    return Promise.all(done).then(() => {})
  }

  /**
   * Queues `value` (a record or a reference) as the shape's next log entry, with its chunk
   * bookkeeping. The caller counts the items towards the commit size.
   */
  #appendRecord(state: ShapeState, rows: readonly EncodableRow[], value: Buffer): Batch {
    const shapeId = state.ref.shapeId
    const lastRow = rows[rows.length - 1] as EncodableRow
    const closedChunks: Buffer[] = []
    let openChunkBytes = state.meta.openChunkBytes
    for (const row of rows) {
      openChunkBytes += row.jsonBytes
      if (openChunkBytes >= this.#options.chunkBytesThreshold) {
        closedChunks.push(offsetKeyOf(shapeId, row.tx, row.op))
        openChunkBytes = 0
      }
    }
    const batch = this.#touch(state, {
      ...state.meta,
      lastTxnOffset: LogOffset.of(lastRow.tx, lastRow.op),
      openChunkBytes,
    })
    const { log, chunks } = this.#store
    batch.writes.push(() => {
      log.putSync(offsetKeyOf(shapeId, lastRow.tx, lastRow.op), value)
      for (const key of closedChunks) chunks.putSync(key, Buffer.alloc(0))
    })
    return batch
  }

  setPgSnapshot(ref: ShapeRef, pgSnapshot: PgSnapshot): Promise<void> {
    const state = this.#state(ref)
    return this.#counted(this.#touch(state, { ...state.meta, pgSnapshot }), 1)
  }

  markSnapshotStarted(ref: ShapeRef): Promise<void> {
    const state = this.#state(ref)
    if (state.meta.snapshotStarted) return this.#pendingFor(state)
    return this.#counted(this.#touch(state, { ...state.meta, snapshotStarted: true }), 1)
  }

  /** Begins a (new) snapshot: drops the parts an interrupted attempt left behind. */
  startSnapshot(ref: ShapeRef): Promise<void> {
    const state = this.#state(ref)
    if (state.meta.lastSnapshotChunk !== null) {
      throw new EngineError(ErrorCode.SNAPSHOT_EXISTS, `shape ${ref.handle} already has a complete snapshot`)
    }
    const batch = this.#touch(state, { ...state.meta, snapshotStarted: true })
    const { snapshot } = this.#store
    batch.writes.push(() => {
      for (const key of snapshot.getKeys(shapeRange(ref.shapeId))) snapshot.removeSync(key)
    })
    return this.#counted(batch, 1)
  }

  writeSnapshotPart(ref: ShapeRef, write: SnapshotPartWrite): Promise<void> {
    const state = this.#state(ref)
    const meta =
      write.lastSnapshotChunk === null ? state.meta : { ...state.meta, lastSnapshotChunk: write.lastSnapshotChunk }
    const batch = this.#touch(state, meta)
    if (write.rows.length > 0 || write.lastOfChunk) {
      const key = snapshotKey(ref.shapeId, write.chunk, write.part)
      const value = encodeSnapshotPart(write.rows, write.rowBytes, write.lastOfChunk)
      const { snapshot } = this.#store
      batch.writes.push(() => snapshot.putSync(key, value))
    }
    return this.#counted(batch, write.rows.length)
  }

  /**
   * Publishes the shape's committed keys as they are on disk, without taking on writer state:
   * a restarted writer uses it for shapes whose keys its predecessor may have left stale.
   */
  republish(ref: ShapeRef): void {
    if (this.#states.has(ref.shapeId)) return
    this.#options.publish(ref.handle, readPathKeysOf(this.#store.readMeta(ref.shapeId)))
  }

  /** Lets go of the shape's writer state; its read-path keys stay published. */
  async hibernate(ref: ShapeRef): Promise<void> {
    await this.flush()
    // A write that arrived while flushing keeps the state: it must commit from it.
    if (this.#batch?.touched.has(ref.shapeId) !== true) this.#states.delete(ref.shapeId)
  }

  /** Deletes everything the partition holds for the shape, in one commit. */
  async drop(shapeId: number): Promise<void> {
    await this.flush()
    this.#states.delete(shapeId)
    const { env, log, chunks, snapshot, meta, txs } = this.#store
    const range = shapeRange(shapeId)
    try {
      env.transactionSync(() => {
        for (const { key, value } of log.getRange(range)) {
          const shared = sharedRefKey(value)
          if (shared !== null) releaseShared(txs, shared)
          log.removeSync(key)
        }
        for (const db of [chunks, snapshot]) {
          for (const key of db.getKeys(range)) db.removeSync(key)
        }
        meta.removeSync(shapeId)
      })
    } catch (error) {
      throw storageFailure(error, `removing shape data from partition ${this.#store.index}`, this.#store.path)
    }
    this.#options.onCommit?.()
  }

  /** Commits what is pending now and resolves when it is durable. */
  flush(): Promise<void> {
    const batch = this.#batch
    if (batch === null) return Promise.resolve()
    this.#commit()
    return batch.committed
  }

  async close(): Promise<void> {
    await this.flush()
    this.#states.clear()
  }

  #state(ref: ShapeRef): ShapeState {
    const existing = this.#states.get(ref.shapeId)
    if (existing !== undefined) return existing
    const state: ShapeState = { ref, meta: this.#store.readMeta(ref.shapeId) }
    this.#states.set(ref.shapeId, state)
    // Writer initialisation: the writer is the authority, so it publishes what it starts from.
    this.#options.publish(ref.handle, readPathKeysOf(state.meta))
    return state
  }

  #touch(state: ShapeState, meta: ShapeMeta): Batch {
    state.meta = meta
    const batch = this.#openBatch()
    batch.touched.set(state.ref.shapeId, state)
    return batch
  }

  #openBatch(): Batch {
    if (this.#batch !== null) return this.#batch
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const committed = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const batch: Batch = { writes: [], touched: new Map(), items: 0, committed, resolve, reject }
    this.#batch = batch
    // Group commit: everything that arrives in this event turn commits together.
    setImmediate(() => {
      if (this.#batch === batch) this.#commit()
    })
    return batch
  }

  /** A no-op write still resolves only after earlier pending writes of the shape are durable. */
  #pendingFor(state: ShapeState): Promise<void> {
    const batch = this.#batch
    return batch?.touched.has(state.ref.shapeId) === true ? batch.committed : Promise.resolve()
  }

  #counted(batch: Batch, items: number): Promise<void> {
    batch.items += items
    const { committed } = batch
    if (batch.items >= GROUP_COMMIT_ITEMS_MAX) this.#commit()
    return committed
  }

  #commit(): void {
    const batch = this.#batch
    if (batch === null) return
    this.#batch = null
    const { env, meta } = this.#store
    try {
      env.transactionSync(() => {
        for (const write of batch.writes) write()
        for (const [shapeId, state] of batch.touched) meta.putSync(shapeId, toStored(state.meta))
      })
    } catch (error) {
      // Nothing of the batch was written: forget the touched shapes' pending state, so the
      // next write reloads what is on disk.
      for (const shapeId of batch.touched.keys()) this.#states.delete(shapeId)
      batch.reject(storageFailure(error, `committing to partition ${this.#store.index}`, this.#store.path))
      return
    }
    this.#options.onCommit?.()
    for (const state of batch.touched.values()) this.#options.publish(state.ref.handle, readPathKeysOf(state.meta))
    batch.resolve()
  }
}

/** The rows after `last`: a replayed prefix is skipped (offsets strictly increase within a transaction). */
function freshRows(rows: readonly EncodableRow[], last: LogOffset): readonly EncodableRow[] {
  let first = 0
  while (first < rows.length && !isAfter(rows[first] as EncodableRow, last)) first++
  return first === 0 ? rows : rows.slice(first)
}

/** Drops one reference to a shared record; the last reference deletes it. */
function releaseShared(txs: PartitionStore['txs'], key: Buffer): void {
  const shared = txs.get(key)
  if (shared === undefined) return
  const references = shared.readUInt32BE(0) - 1
  if (references <= 0) {
    txs.removeSync(key)
    return
  }
  const updated = Buffer.from(shared)
  updated.writeUInt32BE(references, 0)
  txs.putSync(key, updated)
}

function isAfter(row: EncodableRow, offset: LogOffset): boolean {
  return row.tx !== offset.tx ? row.tx > offset.tx : row.op > offset.op
}
