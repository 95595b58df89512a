import { ByteBudget } from './byte-budget.ts'
import { Catalog, type CatalogEntry } from './catalog/catalog.ts'
import { DirectoryLock } from './dir-lock.ts'
import { EngineError, ErrorCode } from './errors.ts'
import { assertHandle, type ShapeHandle } from './handle.ts'
import { checkCatalogFile, checkPartitionFiles, partitionsWithData } from './integrity/directory-check.ts'
import {
  FANOUT_SHAPES_MAX,
  POOL_READ_BYTES_MIN,
  SNAPSHOT_BYTES_IN_FLIGHT,
  WAIT_TIMEOUT_MS_DEFAULT,
  WAIT_TIMEOUT_MS_MAX,
} from './limits.ts'
import { ShapeWaiters } from './live/shape-waiters.ts'
import { LogOffset } from './log-offset.ts'
import { SNAPSHOT_CHUNK_LAST } from './log-store/keys.ts'
import { readLogJson } from './log-store/log-json.ts'
import { readLogStream, type SnapshotAttempt } from './log-store/log-stream.ts'
import type { PartitionStore } from './log-store/partition-store.ts'
import { PartitionStores } from './log-store/partition-stores.ts'
import { chunkSnapshot } from './log-store/snapshot-chunker.ts'
import { type EncodedTransaction, encodeTransaction, type LogItem } from './log-store/transaction-encoder.ts'
import { type EngineOptions, type ResolvedOptions, resolveOptions } from './options.ts'
import { type PgSnapshot, type PgSnapshotInput, validatePgSnapshot } from './pg-snapshot.ts'
import { ReadPath } from './read-path/read-path.ts'
import type { Writers } from './runtime.ts'
import { canonicalShape, canonicalTable, type ShapeDefinition, toDefinition } from './shape.ts'
import type { ShapeRef } from './shape-ref.ts'
import { snapshotPartArgs, type TransactionAppend, transactionAppend } from './write-ops.ts'

export interface WaitForOffsetOptions {
  /** Give up after this long and resolve false. Default 20 s (Electric's long-poll window). */
  readonly timeoutMs?: number | undefined
  readonly signal?: AbortSignal | undefined
}

export interface EngineStats {
  /** Catalog shape records read (lookups, entries, listings); opening reads none. */
  readonly catalogRecordsRead: number
  /** Read-path calls that missed the key table and read the shape's metadata record from LMDB. */
  readonly readPathMisses: number
  /** Shape metadata records read from LMDB on the main thread (one per miss; opening reads none). */
  readonly metaRecordsRead: number
  /** Partition environments opened so far (they open on first use). */
  readonly partitionsOpen: number
  /** Callers currently waiting in waitForOffset (or tailing a snapshot). */
  readonly waiters: number
  /** getLogJson reads served by the runtime's reader pool (the rest ran inline). */
  readonly pooledLogReads: number
}

/** Opens (or creates) the engine on `options.dir`. Reads no per-shape data. */
export async function openEngine(options: EngineOptions): Promise<Engine> {
  const resolved = resolveOptions(options)
  const lock = DirectoryLock.acquire(resolved.dir)
  let catalog: Catalog | undefined
  let stores: PartitionStores | undefined
  try {
    // Before LMDB maps anything: a damaged file would crash the process instead of failing.
    checkCatalogFile(resolved.dir)
    const partitionStores = new PartitionStores(resolved.dir, { mapSizeBytes: resolved.partitionMapBytes })
    stores = partitionStores
    catalog = Catalog.open(resolved.dir, {
      partitions: resolved.partitions,
      mapSizeBytes: resolved.catalogMapBytes,
      preparePartition: (partition) => partitionStores.prepare(partition),
      partitionsWithData: () => partitionsWithData(resolved.dir),
    })
    checkPartitionFiles(resolved.dir, resolved.partitions, catalog.partitionsInUse())
    const waiters = new ShapeWaiters()
    const writers = await resolved.runtime({
      dir: resolved.dir,
      partitions: resolved.partitions,
      chunkBytesThreshold: resolved.chunkBytesThreshold,
      partitionMapBytes: resolved.partitionMapBytes,
      stores,
      onPublished: (handle) => waiters.notify(handle),
    })
    if (writers.commitCounters !== undefined) stores.useCommitCounters(writers.commitCounters)
    return new Engine(resolved, lock, catalog, stores, writers, waiters)
  } catch (error) {
    await stores?.close()
    await catalog?.close()
    lock.release()
    throw error
  }
}

/**
 * The storage engine facade: the public API of shapestore (see API.md). Runs on the main
 * thread; validates every input before anything is written; resolves handles through the
 * catalog; sends writes to the runtime's writers; answers read-path calls from the table,
 * filling it from LMDB on a miss.
 *
 * Owner of: the catalog, the handle -> ShapeRef cache, the waiters, the set of snapshots being
 * written in this process.
 */
export class Engine {
  readonly #options: ResolvedOptions
  readonly #lock: DirectoryLock
  readonly #catalog: Catalog
  readonly #stores: PartitionStores
  readonly #writers: Writers
  readonly #waiters: ShapeWaiters
  readonly #readPath: ReadPath
  readonly #refs = new Map<ShapeHandle, ShapeRef>()
  /** Snapshots being written in this process: resolves once the attempt's start (dropping an earlier attempt's parts) is committed. */
  readonly #snapshotsWriting = new Map<ShapeHandle, SnapshotAttempt>()
  /** Encoded snapshot parts not yet committed, across all snapshots (chunkSnapshot). */
  readonly #snapshotBytes = new ByteBudget(SNAPSHOT_BYTES_IN_FLIGHT)
  readonly #background: Promise<void>
  #closed: Promise<void> | null = null
  #pooledLogReads = 0

  /** @internal use openEngine */
  constructor(
    options: ResolvedOptions,
    lock: DirectoryLock,
    catalog: Catalog,
    stores: PartitionStores,
    writers: Writers,
    waiters: ShapeWaiters,
  ) {
    this.#options = options
    this.#lock = lock
    this.#catalog = catalog
    this.#stores = stores
    this.#writers = writers
    this.#waiters = waiters
    this.#readPath = new ReadPath(writers.table, catalog, stores)
    // A failure here leaves the removal record in the catalog: the next open retries it.
    this.#background = this.#finishPendingRemovals().catch(() => {})
  }

  // ---- catalog ----

  getOrCreateShape(def: ShapeDefinition): Promise<{ handle: ShapeHandle; created: boolean }> {
    return this.#guard(() => this.#catalog.getOrCreate(canonicalShape(def)))
  }

  fetchHandleByShape(def: ShapeDefinition): ShapeHandle | undefined {
    this.#assertOpen()
    return this.#catalog.lookupHandle(canonicalShape(def))
  }

  fetchShapeByHandle(handle: ShapeHandle): ShapeDefinition | undefined {
    this.#assertOpen()
    assertHandle(handle)
    const entry = this.#catalog.entry(handle)
    return entry === undefined ? undefined : toDefinition(entry.shape)
  }

  /** Every shape, or those of one table, in handle order. The filter is checked at the call. */
  listShapes(filter: { table?: string | undefined } = {}): Iterable<{ handle: ShapeHandle; shape: ShapeDefinition }> {
    this.#assertOpen()
    assertOptionsObject(filter, 'listShapes filter', ['table'])
    const table = filter.table === undefined ? undefined : canonicalTable(filter.table)
    return this.#listShapes(table)
  }

  *#listShapes(table: string | undefined): Iterable<{ handle: ShapeHandle; shape: ShapeDefinition }> {
    this.#assertOpen()
    for (const { handle, shape } of this.#catalog.list(table)) yield { handle, shape: toDefinition(shape) }
  }

  countShapes(): number {
    this.#assertOpen()
    return this.#catalog.count()
  }

  /**
   * Removes the shape: its lookups first (no new reader finds it), then its log, snapshot and
   * metadata, then its read-path keys. Resolves false if no shape had this handle. If dropping
   * its data fails (WRITER_CRASHED), the shape is still gone for every reader and waiter, and
   * the next open drops the data.
   */
  removeShape(handle: ShapeHandle): Promise<boolean> {
    return this.#guard(async () => {
      assertHandle(handle)
      const entry = this.#catalog.remove(handle)
      if (entry === undefined) return false
      this.#refs.delete(handle)
      try {
        await this.#dropData(entry)
      } finally {
        // Gone for readers and waiters even if its data could not be dropped now (a writer
        // died): the catalog keeps that removal pending, and the next open finishes it. The
        // waiters go even if the table cannot free the shape's slot (left locked by a writer
        // that died holding it): they waited out their timeout.
        this.#snapshotsWriting.delete(handle)
        try {
          this.#writers.table.delete(handle)
        } finally {
          this.#waiters.fail(handle, removed(handle))
        }
      }
      return true
    })
  }

  // ---- write path ----

  /**
   * Stores the Postgres snapshot the shape's initial query ran in. Xids may be numbers, bigints
   * or decimal strings (as Postgres clients give an xid8); fetchPgSnapshot returns numbers.
   */
  setPgSnapshot(handle: ShapeHandle, pgSnapshot: PgSnapshotInput): Promise<void> {
    return this.#guard(() => {
      const snapshot = validatePgSnapshot(pgSnapshot)
      return this.#writers.setPgSnapshot({ ref: this.#ref(handle), pgSnapshot: snapshot })
    })
  }

  markSnapshotStarted(handle: ShapeHandle): Promise<void> {
    return this.#guard(() => {
      return this.#writers.markSnapshotStarted({ ref: this.#ref(handle) })
    })
  }

  /**
   * Writes the shape's snapshot from `rows` (client-ready JSON strings), chunked by
   * chunkBytesThreshold, and marks it complete. Readers can tail it meanwhile. If it fails
   * part-way, the snapshot stays incomplete (readers get SNAPSHOT_INCOMPLETE) until it is
   * written again with another call. Resolves with the last chunk's offset `0_n`.
   */
  makeNewSnapshot(handle: ShapeHandle, rows: AsyncIterable<string> | Iterable<string>): Promise<LogOffset> {
    return this.#guard(async () => {
      const ref = this.#ref(handle)
      // Checked before the attempt starts (which drops an earlier attempt's parts); rows are checked as they come.
      if (!isRowSource(rows)) {
        throw new EngineError(
          ErrorCode.INVALID_ITEM,
          'snapshot rows must be an iterable or async iterable of JSON strings',
        )
      }
      if (this.#snapshotsWriting.has(handle)) {
        throw new EngineError(ErrorCode.SNAPSHOT_EXISTS, `a snapshot of shape ${handle} is being written`)
      }
      const starting = this.#writers.startSnapshot({ ref })
      const attempt: SnapshotAttempt = {
        started: starting.then(
          () => true,
          () => false,
        ),
        failed: false,
      }
      this.#snapshotsWriting.set(handle, attempt)
      try {
        await starting
        const allocate = this.#allocator(ref.partition)
        const last = await chunkSnapshot(
          rows,
          this.#options.chunkBytesThreshold,
          this.#snapshotBytes,
          allocate,
          (part) => {
            // Re-resolve per part: a shape removed meanwhile must not get data (or keys) back.
            return this.#guard(() => this.#writers.writeSnapshotPart(snapshotPartArgs(part, this.#ref(handle))))
          },
        )
        return LogOffset.snapshotChunk(last)
      } catch (error) {
        attempt.failed = true
        throw error
      } finally {
        this.#snapshotsWriting.delete(handle)
        this.#waiters.notify(handle)
      }
    })
  }

  /** Appends the items of one transaction; see appendToLogs. */
  appendToLog(handle: ShapeHandle, items: readonly LogItem[]): Promise<void> {
    return this.#guard(() => {
      const ref = this.#ref(handle)
      const txn = transactionAppend(this.#encode(items, ref.partition), [ref], true)
      return this.#writers.append({ partition: ref.partition, transactions: [txn] })
    })
  }

  /**
   * Appends one source transaction to many shapes. Every item of every shape is checked first;
   * one bad item rejects the call and nothing is written. Items at or below a shape's last
   * offset are skipped (idempotent replay). Each shape's part commits atomically and durably.
   */
  appendToLogs(
    entries: ReadonlyArray<{ readonly handle: ShapeHandle; readonly items: readonly LogItem[] }>,
  ): Promise<void> {
    return this.#guard(() => {
      if (!Array.isArray(entries)) throw new EngineError(ErrorCode.INVALID_ITEM, 'entries must be an array')
      if (entries.length > FANOUT_SHAPES_MAX) {
        throw new EngineError(ErrorCode.TOO_LARGE, `${entries.length} shapes in one call, over ${FANOUT_SHAPES_MAX}`)
      }
      const seen = new Set<ShapeHandle>()
      // The same items array given to many shapes is encoded once and goes to each partition
      // once, for all of that partition's shapes: the writer stores it once there (a shared record).
      const transactions = new Map<readonly LogItem[], Map<number, ShapeRef[]>>()
      for (const entry of entries) {
        if (typeof entry !== 'object' || entry === null) {
          throw new EngineError(ErrorCode.INVALID_ITEM, 'each entry must be an object { handle, items }')
        }
        const { handle, items } = entry
        if (seen.has(handle)) throw new EngineError(ErrorCode.DUPLICATE_SHAPE, `shape ${handle} appears twice`)
        seen.add(handle)
        const ref = this.#ref(handle)
        let partitions = transactions.get(items)
        if (partitions === undefined) {
          partitions = new Map()
          transactions.set(items, partitions)
        }
        const refs = partitions.get(ref.partition)
        if (refs === undefined) partitions.set(ref.partition, [ref])
        else refs.push(ref)
      }
      // Encoded (and so checked) before any is sent. A transaction for one partition is encoded
      // straight into the bytes its writer receives; one for several on the heap, and copied
      // into each: in one writer's buffers it would be detached there once that writer's turn
      // went out (at TURN_FLUSH_BYTES), before the next partition's copy was made.
      const encoded = [...transactions].map(([items, refs]) => {
        const only = refs.size === 1 ? (refs.keys().next().value as number) : null
        return { txn: only === null ? encodeTransaction(items, Buffer.allocUnsafe) : this.#encode(items, only), refs }
      })
      // One operation per partition, with every transaction bound for it.
      const byPartition = new Map<number, TransactionAppend[]>()
      for (const { txn, refs } of encoded) {
        const exclusive = refs.size === 1
        for (const [partition, partitionRefs] of refs) {
          const append = transactionAppend(txn, partitionRefs, exclusive)
          const queued = byPartition.get(partition)
          if (queued === undefined) byPartition.set(partition, [append])
          else queued.push(append)
        }
      }
      const appends: Promise<void>[] = []
      for (const [partition, partitionTransactions] of byPartition) {
        appends.push(this.#writers.append({ partition, transactions: partitionTransactions }))
      }
      return Promise.all(appends).then(() => {})
    })
  }

  /** The writer lets go of the shape; its read-path keys stay readable from memory. */
  hibernate(handle: ShapeHandle): Promise<void> {
    return this.#guard(() => this.#writers.hibernate({ ref: this.#ref(handle) }))
  }

  // ---- read path (synchronous: the hit path allocates nothing) ----

  /** The last complete transaction readers may see; `0_inf` for a new shape, `0_n` once only a snapshot exists. */
  fetchLatestOffset(handle: ShapeHandle): LogOffset {
    this.#assertOpen()
    return this.#readPath.keys(handle).latestOffset
  }

  /** The last transaction known durable. */
  fetchLastPersistedOffset(handle: ShapeHandle): LogOffset {
    this.#assertOpen()
    return this.#readPath.keys(handle).lastPersistedOffset
  }

  fetchPgSnapshot(handle: ShapeHandle): PgSnapshot | null {
    this.#assertOpen()
    return this.#readPath.keys(handle).pgSnapshot
  }

  snapshotStarted(handle: ShapeHandle): boolean {
    this.#assertOpen()
    return this.#readPath.keys(handle).snapshotStarted
  }

  /**
   * The inclusive end of the chunk a read from `offset` falls in (Electric's rules): `0_0`
   * for `-1`, the next snapshot chunk inside the snapshot region, a closed log chunk's last
   * offset, or null for the open log chunk (read up to the latest offset then).
   */
  getChunkEndLogOffset(handle: ShapeHandle, offset: LogOffset | string): LogOffset | null {
    this.#assertOpen()
    const from = LogOffset.from(offset)
    const keys = this.#readPath.keys(handle)
    if (from.isBeforeAll) return LogOffset.FIRST
    // A snapshot has no chunk past SNAPSHOT_CHUNK_LAST, whatever offset a client names.
    if (from.isVirtual && from.op < SNAPSHOT_CHUNK_LAST) {
      if (keys.lastSnapshotChunk === null || from.op < keys.lastSnapshotChunk)
        return LogOffset.snapshotChunk(from.op + 1)
    }
    const ref = this.#ref(handle)
    return this.#stores.get(ref.partition).chunkEndAfter(ref.shapeId, LogOffset.max(from, LogOffset.LAST_BEFORE_REAL))
  }

  /**
   * The shape's entries with offsets in (since, upTo], as client-ready JSON strings: the
   * snapshot chunks, then the log. `upTo` defaults to the latest offset at the call. Arguments
   * are checked at the call, before iteration starts.
   */
  getLogStream(handle: ShapeHandle, since: LogOffset | string, upTo?: LogOffset | string): AsyncIterable<string> {
    this.#assertOpen()
    const from = LogOffset.from(since)
    const keys = this.#readPath.keys(handle)
    const to = upTo === undefined ? keys.latestOffset : LogOffset.from(upTo)
    const ref = this.#ref(handle)
    return readLogStream(
      {
        store: this.#stores.get(ref.partition),
        shapeId: ref.shapeId,
        stallTimeoutMs: this.#options.snapshotStallTimeoutMs,
        // The ref cache loses the handle at removal's first step: from then on the shape is gone.
        keys: () => (this.#refs.has(handle) ? this.#readPath.keys(handle) : undefined),
        snapshotAttempt: () => this.#snapshotsWriting.get(handle) ?? null,
        nextChange: (timeoutMs) => {
          // A stream resumed after close() would wait for a change nothing will make.
          this.#assertOpen()
          return this.#waiters.wait(handle, () => true, { timeoutMs })
        },
        assertOpen: () => this.#assertOpen(),
      },
      from,
      to,
      keys.latestOffset,
    )
  }

  /**
   * The shape's committed entries in (since, upTo] as one ready-to-send JSON array (`[row,...]`,
   * UTF-8), read without decoding a row. Big reads (a snapshot chunk, a closed log chunk) run in
   * the runtime's reader pool when it has one and its threads are up; the live tail is read
   * inline. A range reaching into a snapshot still being written is SNAPSHOT_INCOMPLETE: use
   * getLogStream, which waits for the rest.
   */
  getLogJson(handle: ShapeHandle, since: LogOffset | string, upTo?: LogOffset | string): Promise<Buffer> {
    return this.#guard(async () => {
      const from = LogOffset.from(since)
      const keys = this.#readPath.keys(handle)
      const to = upTo === undefined ? keys.latestOffset : LogOffset.from(upTo)
      const ref = this.#ref(handle)
      const store = this.#stores.get(ref.partition)
      const reader = this.#writers.reader
      if (reader !== undefined && this.#isBigRead(store, ref.shapeId, from, keys.lastSnapshotChunk)) {
        if (reader.ready && !reader.saturated) {
          this.#pooledLogReads++
          const read = reader.readLogJson({
            dir: this.#options.dir,
            partitionMapBytes: this.#options.partitionMapBytes,
            partition: ref.partition,
            shapeId: ref.shapeId,
            since: from.toString(),
            upTo: to.toString(),
            lastSnapshotChunk: keys.lastSnapshotChunk,
          })
          // Read later, in a reader thread: the data of a shape removed meanwhile may be gone
          // under it, which reads as an empty range or as a snapshot chunk cut short (damage).
          // A shape that is gone once the read is done answers SHAPE_REMOVED, whatever it read.
          const gone = () => !this.#refs.has(handle)
          return read.then(
            (json) => (gone() ? Promise.reject(removed(handle)) : json),
            (error: unknown) => Promise.reject(gone() ? removed(handle) : error),
          )
        }
        // Reader threads take ~0.5 s to start: read inline meanwhile.
        reader.start().catch(() => {})
      }
      return readLogJson(store, ref.shapeId, from, to, keys.lastSnapshotChunk)
    })
  }

  /**
   * A snapshot chunk or a closed log chunk is about chunkBytesThreshold; the open chunk (the
   * live tail) is small. A read from the snapshot's last chunk on starts in the log: only a
   * closed log chunk after it makes it big (a client caught up with a snapshot-only shape used
   * to send its empty read to the pool).
   */
  #isBigRead(store: PartitionStore, shapeId: number, from: LogOffset, lastSnapshotChunk: number | null): boolean {
    if (this.#options.chunkBytesThreshold < POOL_READ_BYTES_MIN) return false
    if (from.isBeforeAll) return true
    if (from.isVirtual && from.op !== Number.POSITIVE_INFINITY) {
      if (lastSnapshotChunk === null || from.op < lastSnapshotChunk) return true
    }
    return store.chunkEndAfter(shapeId, LogOffset.max(from, LogOffset.LAST_BEFORE_REAL)) !== null
  }

  /**
   * Resolves true once the shape's latest offset is past `offset`, or false when `timeoutMs`
   * passes first. Rejects with ABORTED, SHAPE_REMOVED or ENGINE_CLOSED.
   */
  waitForOffset(handle: ShapeHandle, offset: LogOffset | string, options: WaitForOffsetOptions = {}): Promise<boolean> {
    return this.#guard(() => {
      const target = LogOffset.from(offset)
      assertOptionsObject(options, 'waitForOffset options', ['timeoutMs', 'signal'])
      const timeoutMs = options.timeoutMs ?? WAIT_TIMEOUT_MS_DEFAULT
      if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > WAIT_TIMEOUT_MS_MAX) {
        throw new EngineError(ErrorCode.INVALID_OPTION, `timeoutMs must be an integer in [0, ${WAIT_TIMEOUT_MS_MAX}]`)
      }
      if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
        throw new EngineError(ErrorCode.INVALID_OPTION, 'signal must be an AbortSignal')
      }
      const moved = () => this.#readPath.keys(handle).latestOffset.isAfter(target)
      if (moved()) return Promise.resolve(true)
      return this.#waiters.wait(handle, moved, { timeoutMs, signal: options.signal })
    })
  }

  /** Counters since open, for benchmarks and monitoring. */
  stats(): EngineStats {
    return {
      catalogRecordsRead: this.#catalog.recordsRead,
      readPathMisses: this.#readPath.misses,
      metaRecordsRead: this.#stores.metaRecordsRead,
      partitionsOpen: this.#stores.openCount,
      waiters: this.#waiters.size,
      pooledLogReads: this.#pooledLogReads,
    }
  }

  // ---- lifecycle ----

  /** Commits what is pending, stops the writers, closes every environment, releases the directory. */
  close(): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close(): Promise<void> {
    this.#waiters.failAll(new EngineError(ErrorCode.ENGINE_CLOSED, 'the engine was closed'))
    await this.#background
    await this.#writers.close()
    await this.#stores.close()
    await this.#catalog.close()
    this.#lock.release()
  }

  #assertOpen(): void {
    if (this.#closed !== null) throw new EngineError(ErrorCode.ENGINE_CLOSED, 'the engine is closed')
  }

  /**
   * Runs an operation after the open check, turning synchronous throws into rejections. Not an
   * async function: the operation's own promise is returned as it is, without the extra
   * promise and turns an async wrapper adds to every append.
   */
  #guard<T>(operation: () => T | Promise<T>): Promise<T> {
    try {
      this.#assertOpen()
      return Promise.resolve(operation())
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Checks and encodes a transaction, into the memory the runtime sends to `partition`'s writer. */
  #encode(items: readonly LogItem[], partition: number): EncodedTransaction {
    return encodeTransaction(items, this.#allocator(partition))
  }

  #allocator(partition: number): (bytes: number) => Buffer {
    const bytesFor = this.#writers.bytesFor
    return bytesFor === undefined ? Buffer.allocUnsafe : (bytes) => bytesFor(partition, bytes)
  }

  #ref(handle: ShapeHandle): ShapeRef {
    const cached = this.#refs.get(handle)
    if (cached !== undefined) return cached
    assertHandle(handle)
    const place = this.#catalog.place(handle)
    if (place === undefined) throw new EngineError(ErrorCode.UNKNOWN_HANDLE, `no shape has handle ${handle}`)
    const ref: ShapeRef = { handle, partition: place.partition, shapeId: place.shapeId }
    this.#refs.set(handle, ref)
    return ref
  }

  async #dropData(entry: Pick<CatalogEntry, 'handle' | 'partition' | 'shapeId'>): Promise<void> {
    await this.#writers.drop({ ref: { handle: entry.handle, partition: entry.partition, shapeId: entry.shapeId } })
    await this.#catalog.finishRemoval(entry.shapeId)
  }

  /** Removals interrupted by a crash: their lookups are gone; delete their data now. */
  async #finishPendingRemovals(): Promise<void> {
    for (const removal of this.#catalog.pendingRemovals()) await this.#dropData(removal)
  }
}

/** An options argument: undefined (defaults) is handled by the caller; else a plain object of known fields. */
function assertOptionsObject(value: unknown, what: string, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null) {
    throw new EngineError(ErrorCode.INVALID_OPTION, `${what} must be an object`)
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new EngineError(ErrorCode.INVALID_OPTION, `${what}: unknown field ${JSON.stringify(key)}`)
  }
}

/** A (async) iterable that is not a string: a string iterates its characters, never meant as rows. */
function isRowSource(rows: unknown): rows is AsyncIterable<string> | Iterable<string> {
  if (typeof rows !== 'object' || rows === null) return false
  const candidate = rows as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown }
  return typeof candidate[Symbol.iterator] === 'function' || typeof candidate[Symbol.asyncIterator] === 'function'
}

function removed(handle: ShapeHandle): EngineError {
  return new EngineError(ErrorCode.SHAPE_REMOVED, `shape ${handle} was removed`)
}
