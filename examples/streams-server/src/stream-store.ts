import { setMaxListeners } from 'node:events'
import { type Engine, type LogItem, LogOffset } from '@shapestore/engine'
import type { Database } from 'lmdb'
import { STREAM_START } from './stream-offset.ts'
import type { StreamConfig, StreamRecord } from './stream-record.ts'

/** The writes of a stream with none in flight: one promise for all of them, not 48 B each. */
const SETTLED: Promise<void> = Promise.resolve()

/** A stream as the server holds it while it is in use: its record and what lives only in memory. */
export class Stream {
  readonly path: string
  readonly record: StreamRecord
  /** The last read or write, for the sliding TTL (not persisted: a restart restarts the window). */
  lastAccessMs = Date.now()
  /** The engine transaction number the next append gets. */
  nextTx: number
  /** Deleted (its record may still be on its way out): the stream no longer exists for requests. */
  removed = false
  /** A close was accepted and is being committed: later appends are refused. */
  closing = false
  /** Aborted when the stream closes or goes away: wakes live readers that wait for data. Made on first use (most streams never have a live reader). */
  #ended: AbortController | null = null
  /** Settles once every write accepted so far has been committed (or failed). */
  #pending: Promise<void> = SETTLED

  constructor(path: string, record: StreamRecord, nextTx: number) {
    // A copy: a request's path is a slice of its whole URL, which a stream would keep alive as
    // long as it stays open (the map of open streams is keyed by this copy too).
    this.path = structuredClone(path)
    this.record = record
    this.nextTx = nextTx
  }

  get config(): StreamConfig {
    return this.record.config
  }

  get ended(): AbortSignal {
    return this.#endedController().signal
  }

  /** Wakes live readers: the stream closed or was deleted. */
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

  /** Records an accepted write in flight; returns it. */
  track(write: Promise<void>): Promise<void> {
    this.#pending = Promise.all([this.#pending, write.catch(() => {})]).then(() => {})
    return write
  }

  /** Resolves when the writes accepted so far are committed: a duplicate is answered only then. */
  settled(): Promise<void> {
    return this.#pending
  }

  isExpired(nowMs = Date.now()): boolean {
    const { ttlSeconds, expiresAt } = this.record.config
    if (ttlSeconds !== null && nowMs >= this.lastAccessMs + ttlSeconds * 1000) return true
    return expiresAt !== null && nowMs >= Date.parse(expiresAt)
  }
}

/**
 * The streams of one server: each stream's log is an engine shape (table `streams`), its
 * record (stream-record.ts) a value of the server's own LMDB database, both read lazily: a
 * restart opens the engine and the database and touches no stream until a request names it.
 */
export class StreamStore {
  readonly engine: Engine
  readonly #records: Database<StreamRecord, string>
  readonly #open = new Map<string, Stream>()
  /** Serialises creations and deletions of one path. */
  readonly #busy = new Map<string, Promise<unknown>>()
  #created = 0

  constructor(engine: Engine, records: Database<StreamRecord, string>) {
    this.engine = engine
    this.#records = records
  }

  /** The stream at `path` if it exists and has not expired (soft-deleted streams included). */
  get(path: string, options: { includeExpired?: boolean } = {}): Stream | undefined {
    let stream = this.#open.get(path)
    if (stream === undefined) {
      const stored = this.#records.get(path)
      if (stored === undefined) return undefined
      // A copy: msgpackr decodes a record's strings as slices of one string of the whole
      // record, which each open stream would keep alive.
      const record = structuredClone(stored)
      stream = new Stream(path, record, this.#nextTxOf(record))
      this.#open.set(stream.path, stream)
    }
    if (stream.removed) return undefined
    if (options.includeExpired !== true && stream.isExpired() && !stream.record.softDeleted) {
      void this.exclusive(path, () => this.#expire(path))
      return undefined
    }
    return stream
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
   * writes the first appends and the record, then adopts it: until then requests do not see it).
   */
  async create(path: string, config: StreamConfig): Promise<Stream> {
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
    const record: StreamRecord = {
      config,
      handle,
      createdAtMs,
      closed: false,
      closedBy: null,
      producers: {},
      streamSeq: null,
      softDeleted: false,
      forks: [],
    }
    return new Stream(path, record, this.#nextTxOf(record))
  }

  /** Makes a created stream visible to requests, once its record is stored. */
  adopt(stream: Stream): void {
    this.#open.set(stream.path, stream)
  }

  /** Persists the stream's record as it is now; resolves once durable. */
  async save(stream: Stream): Promise<void> {
    await this.#records.put(stream.path, stream.record)
  }

  /** Drops what memory holds of the stream after a failed write (the next lookup reloads the record), and rethrows `error`. */
  forget(stream: Stream, error: unknown): never {
    if (this.#open.get(stream.path) === stream) this.#open.delete(stream.path)
    throw error
  }

  append(stream: Stream, items: readonly LogItem[]): Promise<void> {
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
    const stream = this.#open.get(path)
    if (stream === undefined || !stream.isExpired()) return
    await this.delete(stream)
  }

  async #remove(stream: Stream): Promise<void> {
    // Kept in #open, marked removed, until the record is gone: a lookup meanwhile must not load it again.
    stream.removed = true
    await this.#records.remove(stream.path)
    if (this.#open.get(stream.path) === stream) this.#open.delete(stream.path)
    await this.engine.removeShape(stream.record.handle)
    const fork = stream.config.fork
    if (fork === null) return
    const source = this.get(fork.source, { includeExpired: true })
    if (source === undefined) return
    source.record.forks = source.record.forks.filter((path) => path !== stream.path)
    if (source.record.softDeleted && source.record.forks.length === 0) await this.#remove(source)
    else await this.save(source)
  }

  #nextTxOf(record: StreamRecord): number {
    const own = this.engine.fetchLatestOffset(record.handle)
    if (own.isReal) return own.tx + 1
    const fork = record.config.fork
    return fork === null ? 1 : Math.max(1, LogOffset.parse(fork.through).tx + 1)
  }
}
