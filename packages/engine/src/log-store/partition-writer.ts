import { EngineError, ErrorCode } from '../errors.ts'
import type { ShapeHandle } from '../handle.ts'
import { GROUP_COMMIT_ITEMS_MAX, SHARED_RECORD_SHAPES_MIN, SYNC_COMMIT_ITEMS_MAX } from '../limits.ts'
import { lmdbSettled } from '../lmdb-settled.ts'
import { LogOffset } from '../log-offset.ts'
import { type ReadPathKeys, readPathKeysOf } from '../read-path/read-path-keys.ts'
import type { ShapeRef } from '../shape-ref.ts'
import { storageFailure } from '../storage-failure.ts'
import type { AppendArgs, SnapshotPartArgs, TransactionAppend, WriterOpArgs, WriterOps } from '../write-ops.ts'
import { offsetKeyOf, readU64, shapeRange, snapshotKey, txsKey } from './keys.ts'
import { asBuffer, chainEntry, encodeSharedRef, sharedRefKey, transactionAfter, visitLogRecord } from './log-record.ts'
import type { PartitionStore } from './partition-store.ts'
import { CHAIN_LONG_BYTES, SHARED_COUNT_BYTES } from './record-layout.ts'
import type { ShapeMeta } from './shape-meta.ts'
import { changedMeta, encodeMetaValue } from './shape-meta.ts'
import type { EncodedTransaction } from './transaction-encoder.ts'
import { seal } from './value-seal.ts'
import { valuesInRange } from './value-size-guard.ts'

/** What a PartitionWriter is told to do after its commits. */
export interface PartitionWriterOptions {
  readonly chunkBytesThreshold: number
  /** Called after each commit with the shape's new keys, and when a shape's state is loaded. */
  readonly publish: (handle: ShapeHandle, keys: ReadPathKeys) => void
  /** Called after each successful commit, before its keys are published. */
  readonly onCommit?: (() => void) | undefined
}

interface ShapeState {
  readonly ref: ShapeRef
  /** The metadata as it will be after the pending batches (the one committing, the one gathering) commit. */
  meta: ShapeMeta
}

/** A value to store: plain data, so it can go to lmdb-js' write thread without a callback. */
interface Put {
  readonly db: PartitionStore['log']
  readonly key: Buffer
  readonly value: Buffer
}

/**
 * A write that reads what the transaction holds before it (a drop's reference counts, a snapshot
 * restart's keys): it must run inside the transaction, in its place.
 */
type Update = () => void

interface Batch {
  /** The batch's writes, in order; each put's value is the batch's own (nothing changes it after). */
  readonly writes: Array<Put | Update>
  /** Whether `writes` holds an Update (set by queueUpdate, the only way one is queued). */
  updates: boolean
  readonly touched: Map<number, ShapeState>
  items: number
  readonly committed: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * The single writer of one partition. It owns the writer state of the partition's active
 * shapes (last seen offset, open chunk bytes, pending metadata), group-commits whatever arrives
 * while the previous commit is under way (at least one event turn) in one LMDB transaction, and
 * after every commit is durable publishes the touched shapes' read-path keys: the writer's value
 * always wins.
 *
 * A batch of SYNC_COMMIT_ITEMS_MAX items or more commits on lmdb-js' write thread of the
 * partition's environment (awaited until flushed): the calling thread goes on encoding and
 * queueing, and the partitions of one thread commit and fsync in parallel instead of one after
 * the other (`pnpm bench:gate --only append-inline,append-workers` against transactionSync for
 * every batch: +32 % entries/s inline, +20 % on 2 writer threads; the process's CPU per entry +7
 * to +12 %, for more commits and the hand-offs between threads). A batch of puts alone goes as
 * lmdb-js write instructions that the write thread runs by itself (`env.batch`; against a
 * transaction callback, which waits for this thread to run it: +10 % entries/s inline, p =
 * 0.019, workers +4 % n.s.); a batch with an Update runs as a transaction callback. A
 * smaller batch commits synchronously: a lone write's latency is then one commit, without the
 * write thread's two event-loop hops. One commit at a time per partition: what arrives
 * meanwhile is the next batch, built on the state the commit under way will leave, so when a
 * commit fails the batch behind it fails too.
 *
 * Runs on whichever thread owns the partition: the main thread (inline runtime) or a writer
 * worker. Callers validate and encode transactions first (encodeTransaction); nothing here
 * rejects an item, so a transaction is written whole or, if the commit fails, not at all.
 */
export class PartitionWriter implements WriterOps {
  readonly #store: PartitionStore
  readonly #options: PartitionWriterOptions
  readonly #states = new Map<number, ShapeState>()
  #batch: Batch | null = null
  /** The batch whose commit is under way (see #commit). */
  #committing: Batch | null = null
  /** The next id for a shared record: one past the highest stored. */
  #nextTxsId: number

  constructor(store: PartitionStore, options: PartitionWriterOptions) {
    this.#store = store
    this.#options = options
    const [last] = store.txs.getKeys({ reverse: true, limit: 1 })
    this.#nextTxsId = last === undefined ? 1 : readU64(last, 0) + 1
    store.padTail()
  }

  /**
   * Appends transactions to shapes of this partition, in order; rows at or below a shape's last
   * offset are skipped (a replay). The shapes that take every row of a transaction share one
   * stored copy (a shared record and a reference each) once there are SHARED_RECORD_SHAPES_MIN of
   * them; a shape that has seen some of the rows already gets its own record of the rest.
   */
  append(args: AppendArgs): Promise<void> {
    // Every shape's state first: one that cannot be read (damaged metadata) fails the call
    // before any part of it is queued. Queued, the parts before it committed with the next batch
    // though the call had failed, and on a writer thread their bytes, in the message's buffers,
    // could be handed back for reuse before that commit.
    for (const txn of args.transactions) for (const ref of txn.refs) this.#state(ref)
    const done: Promise<void>[] = []
    // Everything this call queues commits together (one commit-size check at the end), so a
    // shared record is never committed apart from the references that count it.
    let items = 0
    for (const txn of args.transactions) items += this.#appendTransaction(txn, done)
    if (this.#batch !== null && items > 0) void this.#counted(this.#batch, items)
    return done.length === 1 ? (done[0] as Promise<void>) : Promise.all(done).then(() => {})
  }

  /** Queues `txn` for its shapes (each one's commit into `done`); returns the log items it queued. */
  #appendTransaction(txn: TransactionAppend, done: Promise<void>[]): number {
    const whole: ShapeState[] = []
    let items = 0
    for (const ref of txn.refs) {
      const state = this.#state(ref)
      const last = state.meta.lastTxnOffset
      if (txn.rowCount === 0 || !isAfter(txn.lastTx, txn.lastOp, last)) done.push(this.#pendingFor(state))
      else if (isAfter(txn.firstTx, txn.firstOp, last)) whole.push(state)
      else {
        const fresh = transactionAfter(txn, last.tx, last.op)
        done.push(this.#appendRecord(state, fresh, fresh.bytes, true).committed)
        items += fresh.rowCount
      }
    }
    if (whole.length > 0 && whole.length < SHARED_RECORD_SHAPES_MIN) {
      const owned = txn.exclusive && txn.refs.length === 1
      for (const state of whole) done.push(this.#appendRecord(state, txn, txn.bytes, owned).committed)
      items += whole.length * txn.rowCount
    } else if (whole.length > 0) {
      const key = txsKey(this.#nextTxsId++)
      const shared = Buffer.allocUnsafe(SHARED_COUNT_BYTES + txn.bytes.length)
      shared.writeUInt32BE(whole.length, 0)
      shared.set(txn.bytes, SHARED_COUNT_BYTES)
      // Unused in a shared record: each reference carries its shape's chain.
      shared.fill(0, shared.length - CHAIN_LONG_BYTES)
      // The record's seal covers the txs key and the record, not the count (it changes).
      seal(key, shared.subarray(SHARED_COUNT_BYTES))
      this.#openBatch().writes.push({ db: this.#store.txs, key, value: shared })
      const ref = encodeSharedRef(key)
      for (const state of whole) done.push(this.#appendRecord(state, txn, ref, false).committed)
      // The rows are stored once; each further shape costs a reference.
      items += txn.rowCount + whole.length - 1
    }
    return items
  }

  /**
   * Queues `value` (the transaction's record, or a reference to it) as the shape's next log
   * entry, with its chunk bookkeeping; `owned`: nothing else stores or reads `value` (it is
   * stored as it is, not copied). The caller counts the items towards the commit size.
   */
  #appendRecord(state: ShapeState, txn: EncodedTransaction, value: Uint8Array, owned: boolean): Batch {
    const shapeId = state.ref.shapeId
    const threshold = this.#options.chunkBytesThreshold
    let openChunkBytes = state.meta.openChunkBytes
    let closedChunks: Buffer[] | null = null
    if (openChunkBytes + txn.jsonBytes < threshold) openChunkBytes += txn.jsonBytes
    else {
      // Some row closes a chunk: only then are the rows walked.
      const closed: Buffer[] = []
      visitLogRecord(txn.bytes, (tx, op, jsonStart, jsonEnd) => {
        openChunkBytes += jsonEnd - jsonStart
        if (openChunkBytes >= threshold) {
          closed.push(offsetKeyOf(shapeId, tx, op))
          openChunkBytes = 0
        }
        return true
      })
      closedChunks = closed
    }
    const previous = state.meta.lastTxnOffset
    const batch = this.#touch(
      state,
      changedMeta(state.meta, { lastTxnOffset: LogOffset.of(txn.lastTx, txn.lastOp), openChunkBytes }),
    )
    const { log, chunks } = this.#store
    const key = offsetKeyOf(shapeId, txn.lastTx, txn.lastOp)
    // A value stored for several shapes (here or in another partition) gets a copy per shape to
    // chain and seal: lmdb-js' write thread reads it only when the transaction runs.
    const stored = chainEntry(owned ? value : Buffer.from(value), txn.lastTx, previous)
    seal(key, stored)
    batch.writes.push({ db: log, key, value: stored })
    if (closedChunks !== null)
      for (const chunkKey of closedChunks) batch.writes.push({ db: chunks, key: chunkKey, value: EMPTY })
    return batch
  }

  setPgSnapshot({ ref, pgSnapshot }: WriterOpArgs['setPgSnapshot']): Promise<void> {
    const state = this.#state(ref)
    return this.#counted(this.#touch(state, changedMeta(state.meta, { pgSnapshot })), 1)
  }

  markSnapshotStarted({ ref }: WriterOpArgs['markSnapshotStarted']): Promise<void> {
    const state = this.#state(ref)
    if (state.meta.snapshotStarted) return this.#pendingFor(state)
    return this.#counted(this.#touch(state, changedMeta(state.meta, { snapshotStarted: true })), 1)
  }

  /** Begins a (new) snapshot: drops the parts an interrupted attempt left behind. */
  startSnapshot({ ref }: WriterOpArgs['startSnapshot']): Promise<void> {
    const state = this.#state(ref)
    if (state.meta.lastSnapshotChunk !== null) {
      throw new EngineError(ErrorCode.SNAPSHOT_EXISTS, `shape ${ref.handle} already has a complete snapshot`)
    }
    const batch = this.#touch(state, changedMeta(state.meta, { snapshotStarted: true }))
    const { snapshot } = this.#store
    queueUpdate(batch, () => {
      for (const key of snapshot.getKeys(shapeRange(ref.shapeId))) snapshot.removeSync(key)
    })
    return this.#counted(batch, 1)
  }

  writeSnapshotPart(part: SnapshotPartArgs): Promise<void> {
    const { ref } = part
    const state = this.#state(ref)
    const meta =
      part.lastSnapshotChunk === null
        ? state.meta
        : changedMeta(state.meta, { lastSnapshotChunk: part.lastSnapshotChunk })
    const batch = this.#touch(state, meta)
    if (part.rowCount > 0 || part.lastOfChunk) {
      const key = snapshotKey(ref.shapeId, part.chunk, part.part)
      seal(key, part.bytes)
      batch.writes.push({ db: this.#store.snapshot, key, value: asBuffer(part.bytes) })
    }
    return this.#counted(batch, part.rowCount)
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
  async hibernate({ ref }: WriterOpArgs['hibernate']): Promise<void> {
    await this.flush()
    // A write that arrived while flushing keeps the state: it must commit from it.
    if (this.#pendingBatch(ref.shapeId) === null) this.#states.delete(ref.shapeId)
  }

  /** Deletes everything the partition holds for the shape, in one commit. */
  async drop({ ref }: WriterOpArgs['drop']): Promise<void> {
    const { shapeId } = ref
    await this.flush()
    this.#states.delete(shapeId)
    const { log, chunks, snapshot, meta, txs } = this.#store
    const range = shapeRange(shapeId)
    const batch = this.#openBatch()
    queueUpdate(batch, () => {
      for (const { key, value } of valuesInRange(log, range)) {
        const shared = sharedRefKey(value)
        if (shared !== null) releaseShared(txs, shared)
        log.removeSync(key)
      }
      for (const db of [chunks, snapshot]) {
        for (const key of db.getKeys(range)) db.removeSync(key)
      }
      meta.removeSync(shapeId)
    })
    return this.#counted(batch, 1)
  }

  /** Commits what is pending now (after the commit under way) and resolves when it is durable. */
  flush(): Promise<void> {
    const batch = this.#batch ?? this.#committing
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
    const batch: Batch = { writes: [], updates: false, touched: new Map(), items: 0, committed, resolve, reject }
    this.#batch = batch
    // Group commit: everything that arrives in this event turn commits together.
    setImmediate(() => {
      if (this.#batch === batch) this.#commit()
    })
    return batch
  }

  /** A no-op write still resolves only after earlier pending writes of the shape are durable. */
  #pendingFor(state: ShapeState): Promise<void> {
    return this.#pendingBatch(state.ref.shapeId)?.committed ?? Promise.resolve()
  }

  /** The latest batch holding a write of the shape: the one gathering, else the one committing. */
  #pendingBatch(shapeId: number): Batch | null {
    if (this.#batch?.touched.has(shapeId) === true) return this.#batch
    if (this.#committing?.touched.has(shapeId) === true) return this.#committing
    return null
  }

  #counted(batch: Batch, items: number): Promise<void> {
    batch.items += items
    const { committed } = batch
    if (batch.items >= GROUP_COMMIT_ITEMS_MAX) this.#commit()
    return committed
  }

  /**
   * Starts committing the open batch, unless a commit is under way: then the batch keeps
   * growing and goes when that one ends (#committed).
   */
  #commit(): void {
    const batch = this.#batch
    if (batch === null || this.#committing !== null) return
    this.#batch = null
    // The metadata as this batch leaves it, taken now: the batch gathering behind it moves the
    // shapes' state on before this transaction runs (and before it is durable and published).
    const metas = Array.from(batch.touched.values(), (state) => [state.ref, state.meta] as const)
    const { env, meta } = this.#store
    const metaValues = metas.map(([ref, shapeMeta]) => [ref.shapeId, encodeMetaValue(ref.shapeId, shapeMeta)] as const)
    const write = () => {
      for (const write of batch.writes) {
        if (typeof write === 'function') write()
        else write.db.putSync(write.key, write.value)
      }
      for (const [shapeId, value] of metaValues) meta.putSync(shapeId, value)
    }
    if (batch.items < SYNC_COMMIT_ITEMS_MAX) {
      // A small batch with nothing committing ahead of it: committed here and now, which
      // saves the write thread's two event-loop hops (the lowest latency for a lone write).
      try {
        env.transactionSync(write)
      } catch (error) {
        this.#failed(batch, error)
        return
      }
      this.#committed(batch, metas)
      return
    }
    this.#committing = batch
    let durable: Promise<unknown>
    try {
      // Taken at once: `flushed` follows the writes queued so far, this transaction's included.
      // Puts alone need no callback on this thread: queued as lmdb-js instructions, the write
      // thread runs the whole transaction (one event-loop hop less than a transaction callback).
      // Queueing cannot stop halfway (which would commit part of the batch): every key and
      // value is a Buffer the writer built, well under LMDB's limits.
      const queued = batch.updates
        ? env.transaction(write)
        : env.batch(() => {
            for (const { db, key, value } of batch.writes as Put[]) db.put(key, value)
            for (const [shapeId, value] of metaValues) meta.put(shapeId, value)
          })
      durable = Promise.all([lmdbSettled<unknown>(queued), flushed(env)])
    } catch (error) {
      durable = Promise.reject(error)
    }
    durable.then(
      () => this.#committed(batch, metas),
      (error: unknown) => this.#failed(batch, error),
    )
  }

  #committed(batch: Batch, metas: ReadonlyArray<readonly [ShapeRef, ShapeMeta]>): void {
    this.#committing = null
    this.#store.padTail()
    this.#options.onCommit?.()
    for (const [ref, meta] of metas) this.#options.publish(ref.handle, readPathKeysOf(meta))
    batch.resolve()
    // The batch that gathered meanwhile goes on the next turn, with what the continuations of
    // this commit's callers append now.
    if (this.#batch !== null) setImmediate(() => this.#commit())
  }

  /**
   * Nothing of the batch was written, and the batch that gathered behind it was built on its
   * state (offsets, chains, chunk sizes): both fail, and their shapes' pending state is
   * forgotten, so the next write reloads what is on disk.
   */
  #failed(batch: Batch, error: unknown): void {
    this.#committing = null
    const behind = this.#batch
    this.#batch = null
    const failure = storageFailure(error, `committing to partition ${this.#store.index}`, this.#store.path)
    for (const failed of behind === null ? [batch] : [batch, behind]) {
      for (const shapeId of failed.touched.keys()) this.#states.delete(shapeId)
      failed.reject(failure)
    }
  }
}

/** Queues an Update: the batch then commits as a transaction callback (see #commit). */
function queueUpdate(batch: Batch, update: Update): void {
  batch.updates = true
  batch.writes.push(update)
}

/** Resolves when every write queued in `env` so far is flushed to disk. */
function flushed(env: PartitionStore['env']): Promise<unknown> {
  return new Promise((resolve, reject) => {
    env.flushed.then(resolve, reject)
  })
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

/** Whether offset (tx, op) is after `offset`. */
function isAfter(tx: number, op: number, offset: LogOffset): boolean {
  return tx !== offset.tx ? tx > offset.tx : op > offset.op
}

/** A closed chunk's index entry: the key is everything. */
const EMPTY = Buffer.alloc(0)
