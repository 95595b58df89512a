import { setMaxListeners } from 'node:events'
import { type Engine, type LogItem, LogOffset, lmdbSettled } from '@shapestore/engine'
import type { Database } from 'lmdb'
import { STREAM_START } from './stream-offset.ts'
import {
  expiresAtMs,
  type ProducerState,
  recordOf,
  type StoredStreamRecord,
  type StreamConfig,
  type StreamRecord,
  storedRecord,
} from './stream-record.ts'

/**
 * Open streams an idle sweep visits per event-loop turn. A sweep over a million open streams,
 * none idle, took 29 ms at once (10,000: 1.4 ms; 100,000: 4.8 ms; a throwaway probe here).
 */
const SWEEP_SLICE = 10_000

/** Stored records the expiry scan reads per event-loop turn, in one read transaction each (expireStored). */
const SCAN_SLICE = 1_000

/** The writes of a stream with none in flight: one promise for all of them, not 48 B each. */
const SETTLED: Promise<void> = Promise.resolve()

/** A stream as the server holds it while it is in use: its record and what lives only in memory. */
export class Stream {
  readonly path: string
  readonly record: StreamRecord
  /**
   * The last read or write: the sliding TTL's window and the idle sweep's clock. Saved in the
   * record when the stream is let go idle (a restart restarts the window of a stream still open,
   * counting from when the server first meets it again: StreamStore.expireStored).
   */
  lastAccessMs: number
  /** The engine transaction number the next append gets. */
  nextTx: number
  /** Deleted (its record may still be on its way out): the stream no longer exists for requests. */
  removed = false
  /** A close was accepted and is being committed: later appends are refused. */
  closing = false
  /**
   * The close's record is being saved: every save of the stream stores it closed from now on,
   * while readers are told only once that save is durable (record.closed is set after it).
   */
  closureSaving = false
  /** Aborted when the stream closes or goes away: wakes live readers that wait for data. Made on first use (most streams never have a live reader). */
  #ended: AbortController | null = null
  /** Settles once every write accepted so far has been committed (or failed). */
  #pending: Promise<void> = SETTLED
  /** Requests using this object across an await (see holding). */
  #holds = 0
  /** Appended to since it was loaded: its writer holds state for it, let go with it (evictIdle). */
  written = false
  /**
   * A write of it failed: what memory holds (offsets and producer state handed out) may be ahead
   * of the disk. It is let go once its other writes have settled (StreamStore.forget); a write
   * request that meets it waits for that and runs on the stream as the disk has it.
   */
  stale = false
  /**
   * Producer states and the Stream-Seq accepted with appends still in flight: requests are
   * checked against them, and the record takes each only once its append has committed, so a
   * record save (any request's) never stores the state of an append that then failed.
   */
  #acceptedProducers: Map<string, ProducerState> | null = null
  #acceptedStreamSeq: string | null = null
  /** Committed producer states met while this object lives (null: none stored), by id. */
  readonly #producers = new Map<string, ProducerState | null>()
  /** The last write in flight under each ordering key (a producer, Stream-Seq): see writeInFlight. */
  #orderedWrites: Map<string, Promise<void>> | null = null

  constructor(path: string, record: StreamRecord, nextTx: number, lastAccessMs = Date.now()) {
    // A copy: a request's path is a slice of its whole URL, which a stream would keep alive as
    // long as it stays open (the map of open streams is keyed by this copy too).
    this.path = structuredClone(path)
    this.record = record
    this.nextTx = nextTx
    this.lastAccessMs = lastAccessMs
  }

  /**
   * The producer's last accepted state, its append committed or not; `stored` reads the committed
   * one from disk (StreamStore.producerState), at most once per producer while this object lives.
   */
  producerState(id: string, stored: () => ProducerState | undefined): ProducerState | undefined {
    const accepted = this.#acceptedProducers?.get(id)
    if (accepted !== undefined) return accepted
    let known = this.#producers.get(id)
    if (known === undefined) {
      // Own keys only: a Producer-Id such as `constructor` must not find Object.prototype's.
      const legacy = Object.hasOwn(this.record.producers, id) ? this.record.producers[id] : undefined
      known = stored() ?? legacy ?? null
      this.#producers.set(id, known)
    }
    return known ?? undefined
  }

  /** The last accepted Stream-Seq, its append committed or not. */
  get streamSeq(): string | null {
    return this.#acceptedStreamSeq ?? this.record.streamSeq
  }

  /** Accepts an append's producer state and Stream-Seq, in memory until commit() puts them in the record. */
  accept(producer: { id: string; state: ProducerState } | null, streamSeq: string | undefined): void {
    if (producer !== null) {
      this.#acceptedProducers ??= new Map()
      this.#acceptedProducers.set(producer.id, producer.state)
    }
    if (streamSeq !== undefined) this.#acceptedStreamSeq = streamSeq
  }

  /**
   * The append accept() was for has committed: the producer's committed state (saved on its own,
   * StreamStore.saveProducer) and the record's Stream-Seq take it.
   */
  commit(producer: { id: string; state: ProducerState } | null, streamSeq: string | undefined): void {
    if (producer !== null) {
      this.#producers.set(producer.id, producer.state)
      if (this.#acceptedProducers?.get(producer.id) === producer.state) this.#acceptedProducers.delete(producer.id)
    }
    if (streamSeq !== undefined) {
      this.record.streamSeq = streamSeq
      if (this.#acceptedStreamSeq === streamSeq) this.#acceptedStreamSeq = null
    }
  }

  get config(): StreamConfig {
    return this.record.config
  }

  get ended(): AbortSignal {
    return this.#endedController().signal
  }

  /** Wakes live readers: the stream closed or was deleted, or this object was let go (StreamStore.forget). */
  end(): void {
    this.#endedController().abort()
  }

  #endedController(): AbortController {
    if (this.#ended === null) {
      this.#ended = new AbortController()
      // Every live reader listens here while it waits (read-routes.ts, waitForData) and removes
      // its listener after: as many as the stream has open connections, not a leak, so Node's
      // warning past 10 ("possible EventTarget memory leak") would only alarm the operator.
      setMaxListeners(0, this.#ended.signal)
    }
    return this.#ended
  }

  /**
   * Records an accepted write in flight (holding the stream until it settles), as the last one
   * under each of `orderedBy` until then; returns it.
   */
  track(write: Promise<void>, orderedBy: readonly string[] = []): Promise<void> {
    const held = this.holding(write)
    const settled = held.catch(() => {})
    this.#pending = Promise.all([this.#pending, settled]).then(() => {})
    if (orderedBy.length > 0) {
      this.#orderedWrites ??= new Map()
      const writes = this.#orderedWrites
      for (const key of orderedBy) writes.set(key, settled)
      void settled.then(() => {
        for (const key of orderedBy) if (writes.get(key) === settled) writes.delete(key)
      })
    }
    return held
  }

  /**
   * A write still in flight under one of `keys` (a producer's id, Stream-Seq), which a request
   * under the same key must wait for: accepted against it, the request would commit even if it
   * failed, and a retry of the failed one would then be answered as a duplicate, never stored.
   */
  writeInFlight(keys: readonly string[]): Promise<void> | undefined {
    for (const key of keys) {
      const write = this.#orderedWrites?.get(key)
      if (write !== undefined) return write
    }
    return undefined
  }

  /**
   * Keeps the stream in memory while `work` runs: a write in flight, a record being saved, a
   * live reader waiting for data. An object in use across an await must stay the one requests
   * get: a second one loaded meanwhile would hand out the same offsets again, or close the
   * stream without waking the first one's readers (StreamStore.evictIdle).
   */
  async holding<T>(work: Promise<T>): Promise<T> {
    this.#holds++
    try {
      return await work
    } finally {
      this.#holds--
    }
  }

  /** Whether a request is using the stream across an await (see holding). */
  get held(): boolean {
    return this.#holds > 0
  }

  /** Resolves when the writes accepted so far are committed: a duplicate is answered only then. */
  settled(): Promise<void> {
    return this.#pending
  }

  /** Past its expiry time, or its TTL after its last access; a stream in use is being accessed now. */
  isExpired(nowMs = Date.now()): boolean {
    return nowMs >= expiresAtMs(this.record.config, this.held ? nowMs : this.lastAccessMs)
  }
}

/** The key of a producer's state in the producers database (producerKey). */
export type ProducerKey = [path: string, producerId: string]

/**
 * The streams of one server: each stream's log is an engine shape (table `streams`), its
 * record (stream-record.ts) a value of the server's own LMDB database, and each idempotent
 * producer's state a value of its own (key `[path, producer id]`: an append saves its producer
 * alone, not every producer the stream ever had), all read lazily: a
 * restart opens the engine and the database and touches no stream until a request names it.
 * Memory holds the streams in use: one left idle is let go (evictIdle) and read again when a
 * request names it, so a server's memory follows its active streams, not every stream it served.
 */
export class StreamStore {
  readonly engine: Engine
  readonly #records: Database<StoredStreamRecord, string>
  readonly #producers: Database<ProducerState, ProducerKey>
  readonly #open = new Map<string, Stream>()
  /** Serialises creations and deletions of one path. */
  readonly #busy = new Map<string, Promise<unknown>>()
  /** Paths whose stream is being created: their record may be on disk before the stream is adopted. */
  readonly #creating = new Set<string>()
  #created = 0
  /** An idle sweep is under way (evictIdle). */
  #sweeping = false
  /** An expiry scan is under way (expireStored). */
  #scanning = false
  /**
   * Streams with a sliding TTL whose record holds no window (the server stopped while they were
   * in memory), by path: when the expiry scan first met each, where their window starts.
   */
  readonly #unseenSince = new Map<string, number>()

  constructor(
    engine: Engine,
    records: Database<StoredStreamRecord, string>,
    producers: Database<ProducerState, ProducerKey>,
  ) {
    this.engine = engine
    this.#records = records
    this.#producers = producers
  }

  /** The producer's last accepted state on the stream (Stream.producerState). */
  producerState(stream: Stream, id: string): ProducerState | undefined {
    return stream.producerState(id, () => this.#producers.get(producerKey(stream.path, id)))
  }

  /** Persists a producer's committed state; resolves once durable. Not once the stream is removed (see save). */
  async saveProducer(stream: Stream, producer: { id: string; state: ProducerState }): Promise<void> {
    if (stream.removed) return
    await stream.holding(lmdbSettled(this.#producers.put(producerKey(stream.path, producer.id), producer.state)))
  }

  /** The stream at `path` if it exists and has not expired (soft-deleted streams included). */
  get(path: string, options: { includeExpired?: boolean } = {}): Stream | undefined {
    let stream = this.#open.get(path)
    if (stream === undefined) {
      // Not yet: a second object loaded from the new record would hand out the creator's offsets again.
      if (this.#creating.has(path)) return undefined
      const stored = this.#records.get(path)
      if (stored === undefined) return undefined
      stream = this.#load(path, stored)
    }
    if (stream.removed) return undefined
    if (options.includeExpired !== true && stream.isExpired() && !stream.record.softDeleted) {
      // A failure leaves the stream as it was: the next request or sweep tries again.
      this.exclusive(path, () => this.#expire(path)).catch(() => {})
      return undefined
    }
    return stream
  }

  #load(path: string, stored: StoredStreamRecord): Stream {
    // A copy: msgpackr decodes a record's strings as slices of one string of the whole
    // record, which each open stream would keep alive.
    const record = structuredClone(recordOf(stored))
    const window = record.lastAccessMs ?? this.#unseenSince.get(path) ?? Date.now()
    const stream = new Stream(path, record, this.#nextTxOf(record), window)
    this.#unseenSince.delete(path)
    this.#open.set(stream.path, stream)
    if (record.lastAccessMs !== null && !stream.isExpired()) {
      // The window lives in memory from now on. Left on disk it would go stale as the stream is
      // used, and after a restart the stream would expire counting from it, while still in use.
      record.lastAccessMs = null
      this.save(stream).catch(() => {})
    }
    return stream
  }

  /**
   * Deletes the stored streams whose TTL or expiry time has passed while none was in memory
   * (the idle sweep deletes the open ones), so their space goes without a request naming them.
   * A sliding TTL counts from the window saved when the stream went idle; a record without one
   * counts from when this first met it, as a request then would have. Reads SCAN_SLICE records
   * per event-loop turn, each slice in its own read transaction (none is held across a turn: a
   * held one would keep LMDB from reusing pages). A scan still under way lets the next pass.
   */
  async expireStored(nowMs = Date.now()): Promise<void> {
    if (this.#scanning) return
    this.#scanning = true
    try {
      let after: string | undefined
      for (;;) {
        const range = after === undefined ? { limit: SCAN_SLICE } : { start: after, limit: SCAN_SLICE + 1 }
        const slice = Array.from(this.#records.getRange(range))
        const fresh = after === undefined ? slice : slice.filter(({ key }) => key !== after)
        if (fresh.length === 0) return
        // A slice's deletions finish before the next slice is read: a million streams expired
        // during a long downtime must not all load and delete at once.
        const deletions: Promise<unknown>[] = []
        for (const { key, value } of fresh) {
          const deletion = this.#expireIfDue(key, value, nowMs)
          if (deletion !== null) deletions.push(deletion)
        }
        after = fresh[fresh.length - 1]?.key
        await Promise.allSettled(deletions)
        await new Promise((resolve) => setImmediate(resolve))
      }
    } finally {
      this.#scanning = false
    }
  }

  /** The stream's deletion, if it expired; null otherwise. */
  #expireIfDue(path: string, stored: StoredStreamRecord, nowMs: number): Promise<void> | null {
    if (this.#open.has(path) || this.#busy.has(path) || this.#creating.has(path)) return null
    if (stored.softDeleted === true) return null
    const { config } = recordOf(stored)
    let window = stored.lastAccessMs
    if (window === undefined && config.ttlSeconds !== null) {
      window = this.#unseenSince.get(path) ?? nowMs
      this.#unseenSince.set(path, window)
    }
    if (nowMs < expiresAtMs(config, window ?? nowMs)) return null
    // As a request naming it would: loaded and deleted, unless it changed meanwhile.
    return this.exclusive(path, () => this.#expire(path)).catch(() => {})
  }

  /** Streams held in memory. */
  get openCount(): number {
    return this.#open.size
  }

  /**
   * Lets go of every stream unused for `idleMs` (no request since, none holding it, no creation
   * or deletion of its path under way): the next request reads its record again, and its shape's
   * writer state goes too (Engine.hibernate). Its in-memory state is all on disk by then: the
   * record is saved before a write settles, the next offset is the engine's tail. Expired streams
   * are deleted here rather than at their next request. A stream with a sliding TTL has its
   * window (the last access, kept in memory) saved in its record first, and goes at the next
   * sweep after that. Visits SWEEP_SLICE streams per event-loop turn, so requests are
   * served between slices; a sweep still under way when the next is due lets it pass.
   */
  async evictIdle(idleMs: number, nowMs = Date.now()): Promise<void> {
    if (this.#sweeping) return
    this.#sweeping = true
    try {
      await this.#sweep(idleMs, nowMs)
    } finally {
      this.#sweeping = false
    }
  }

  async #sweep(idleMs: number, nowMs: number): Promise<void> {
    let visited = 0
    // A Map iterates safely while it changes: entries deleted meanwhile are skipped, new ones
    // visited (and kept: their last access is after nowMs).
    for (const [path, stream] of this.#open) {
      this.#sweepOne(path, stream, idleMs, nowMs)
      // Between entries, never within one: the iterator then hands out only what is still open.
      if (++visited % SWEEP_SLICE === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  #sweepOne(path: string, stream: Stream, idleMs: number, nowMs: number): void {
    if (stream.removed || this.#busy.has(path)) return
    if (stream.isExpired(nowMs) && !stream.record.softDeleted) {
      // Held or not, as a request naming it would: its live readers are woken by the deletion
      // (they waited out their timeout on a stream that was gone). A failure leaves the stream
      // as it was: the next sweep or request tries again.
      this.exclusive(path, () => this.#expire(path)).catch(() => {})
      return
    }
    if (stream.held || nowMs - stream.lastAccessMs < idleMs) return
    const slidingTtl = stream.config.ttlSeconds !== null && !stream.record.softDeleted
    if (slidingTtl && stream.record.lastAccessMs !== stream.lastAccessMs) {
      // Reloaded without it, the stream would start its window afresh (and never expire if it
      // is named often enough to be reloaded). Let go at a later sweep, once this is saved.
      stream.record.lastAccessMs = stream.lastAccessMs
      this.save(stream).catch(() => {
        stream.record.lastAccessMs = null
      })
      return
    }
    this.#open.delete(path)
    // Only ever fails when the engine is closing or broken: nothing is lost either way.
    if (stream.written) this.engine.hibernate(stream.record.handle).catch(() => {})
  }

  /** Runs `work` after every earlier creation or deletion of `path` has finished. */
  exclusive<T>(path: string, work: () => Promise<T>): Promise<T> {
    const before = this.#busy.get(path) ?? Promise.resolve()
    const run = before.then(work, work)
    const settled = run.catch(() => {})
    this.#busy.set(path, settled)
    void settled.then(() => {
      if (this.#busy.get(path) === settled) this.#busy.delete(path)
    })
    return run
  }

  /**
   * Creates the stream's shape and its record in memory (the caller holds `exclusive(path)`,
   * writes the first appends and the record, then adopts it, or abandons the creation if that
   * failed: until then requests do not see it, even once its record is on disk).
   */
  async create(path: string, config: StreamConfig): Promise<Stream> {
    this.#creating.add(path)
    try {
      const createdAtMs = Date.now()
      let handle: string
      for (;;) {
        // A fresh shape per creation: a stream deleted and created again never sees the old log.
        const where = JSON.stringify([path, createdAtMs, this.#created++])
        const shape = await this.engine.getOrCreateShape({ table: 'streams', where })
        // An orphan shape from a crash between these two steps in an earlier run: take the next name.
        if (shape.created) {
          handle = shape.handle
          break
        }
      }
      // Every other field at its default, as recordOf fills them in.
      const record = recordOf({ config, handle, createdAtMs })
      return new Stream(path, record, this.#nextTxOf(record))
    } catch (error) {
      this.#creating.delete(path)
      throw error
    }
  }

  /** Makes a created stream visible to requests, once its record is stored. */
  adopt(stream: Stream): void {
    this.#open.set(stream.path, stream)
    this.#creating.delete(stream.path)
  }

  /** A creation that failed: the path reads from disk again (the caller holds `exclusive(path)`). */
  abandonCreation(path: string): void {
    this.#creating.delete(path)
  }

  /**
   * Persists the stream's record as it is now; resolves once durable. Not once it is removed: a
   * save that was waiting for its append would otherwise bring a deleted record back.
   */
  async save(stream: Stream): Promise<void> {
    if (stream.removed) return
    const record = stream.closureSaving ? { ...stream.record, closed: true } : stream.record
    await stream.holding(lmdbSettled(this.#records.put(stream.path, storedRecord(record))))
  }

  /**
   * After a failed write: marks the stream stale and lets go of it once every write accepted
   * before has settled (the next lookup then reads the record from disk), and rethrows `error`.
   * Not at once: a second object loaded while writes are in flight would hand out their
   * transaction numbers again, and the engine skips an append it already has as a replay. Its
   * live readers are woken then, to come back for the successor (a close of that one would not
   * wake them). A stream being deleted is left to the deletion, which lets go of it once its
   * record is gone: loaded again before that, it would come back.
   */
  forget(stream: Stream, error: unknown): never {
    if (!stream.stale) {
      stream.stale = true
      void stream.settled().then(() => {
        if (stream.removed || this.#open.get(stream.path) !== stream) return
        this.#open.delete(stream.path)
        stream.end()
      })
    }
    throw error
  }

  append(stream: Stream, items: readonly LogItem[]): Promise<void> {
    stream.written = true
    return this.engine.appendToLog(stream.record.handle, items)
  }

  /** The engine offset of the stream's last message (STREAM_START or the fork point when it has none of its own). */
  tail(stream: Stream): LogOffset {
    const own = this.engine.fetchLatestOffset(stream.record.handle)
    if (own.isReal) return own
    const fork = stream.config.fork
    return fork === null ? STREAM_START : LogOffset.parse(fork.through)
  }

  /**
   * Deletes the stream (the caller holds `exclusive(path)`): a stream that forks still read
   * from is only marked deleted; the last fork to go takes its deleted sources with it.
   */
  async delete(stream: Stream): Promise<void> {
    stream.end()
    if (stream.record.forks.length > 0) {
      stream.record.softDeleted = true
      await this.save(stream)
      return
    }
    await this.#remove(stream)
  }

  async #expire(path: string): Promise<void> {
    const stream = this.get(path, { includeExpired: true })
    if (stream === undefined || !stream.isExpired() || stream.record.softDeleted) return
    await this.delete(stream)
  }

  async #remove(stream: Stream): Promise<void> {
    // Kept in #open, marked removed, until the record is gone: a lookup meanwhile must not load it again.
    stream.removed = true
    // Writes accepted before finish first: the record goes after the last save that carries it.
    await stream.settled()
    // The record and its producers in one transaction: a stream created again at the path
    // starts with none.
    const { path } = stream
    await lmdbSettled(
      this.#records.transaction(() => {
        this.#records.removeSync(path)
        for (const key of this.#producers.getKeys(producerRange(path))) this.#producers.removeSync(key)
      }),
    )
    if (this.#open.get(stream.path) === stream) this.#open.delete(stream.path)
    this.#unseenSince.delete(path)
    await this.engine.removeShape(stream.record.handle)
    const fork = stream.config.fork
    if (fork === null) return
    const source = this.get(fork.source, { includeExpired: true })
    if (source === undefined) return
    source.record.forks = source.record.forks.filter((path) => path !== stream.path)
    if (source.record.softDeleted && source.record.forks.length === 0) await this.#remove(source)
    else await this.save(source)
  }

  /**
   * The stream at `path` for a creation (the caller holds `exclusive(path)`): an expired stream
   * there is deleted first, so a new one never takes over its record and orphans its log.
   */
  async beforeCreate(path: string): Promise<Stream | undefined> {
    await this.#expire(path)
    return this.get(path)
  }

  #nextTxOf(record: StreamRecord): number {
    const own = this.engine.fetchLatestOffset(record.handle)
    if (own.isReal) return own.tx + 1
    const fork = record.config.fork
    return fork === null ? 1 : Math.max(1, LogOffset.parse(fork.through).tx + 1)
  }
}

/** A producer's key: its stream's path and its id, as a two-part key (ordered by path first). */
function producerKey(path: string, id: string): ProducerKey {
  return [path, id]
}

/**
 * The keys of every producer of the stream at `path`: from the path alone to the path with
 * the byte after the parts' separator (a string key holding that separator would read back as
 * a two-part key, and a range of such strings finds nothing: measured).
 */
function producerRange(path: string): { start: ProducerKey | [string]; end: [string] } {
  return { start: [path], end: [`${path}\u0001`] }
}
