import { EngineError, ErrorCode } from '@shapestore/engine'
import { Piscina } from 'piscina'
import { deserializeError } from './protocol.ts'
import type { ReadLogJsonFailure, ReadLogJsonRequest } from './reader-task.ts'
import { siblingModule } from './thread-entry.ts'
import { giveUp, warmUpBarrier } from './warm-up-barrier.ts'

export type { ReadLogJsonRequest } from './reader-task.ts'

/** Options of a ReaderPool (the worker runtime passes its own). */
export interface ReaderPoolOptions {
  /** Reader threads at most (piscina maxThreads). Default 2. */
  readonly readers?: number | undefined
  /**
   * Heap limit of each reader thread, in MiB (piscina replaces a thread over it). The answers
   * themselves are ArrayBuffers outside this heap (measured: a 16 MiB-heap thread allocated
   * 600 MB of buffers); LOG_JSON_BYTES_MAX bounds them. Default 64.
   */
  readonly readerMemoryMb?: number | undefined
  /**
   * An idle thread above minThreads exits after this long. Every thread is a minimum thread
   * today (see start), so this applies only if that changes. Default 30 s.
   */
  readonly idleTimeoutMs?: number | undefined
  /**
   * Reads waiting for a thread, at most (at least `readers`); one more rejects with
   * STORAGE_ERROR. Check `saturated` first. Default 256.
   */
  readonly queueMax?: number | undefined
  /** A reader thread failed outside any read (piscina replaces it). Default: ignored. */
  readonly onError?: ((error: Error) => void) | undefined
}

export const READERS_MAX = 64
export const READERS_DEFAULT = 2
export const READER_MEMORY_MB_DEFAULT = 64
export const READER_MEMORY_MB_MIN = 16
export const READER_IDLE_TIMEOUT_MS_DEFAULT = 30_000
export const READER_QUEUE_MAX_DEFAULT = 256
/**
 * How long close() waits for reads in flight and queued before it stops the threads anyway
 * (after a start under way has ended: at most READER_START_TIMEOUT_MS).
 */
export const READER_CLOSE_TIMEOUT_MS = 10_000
/** How long start() waits for every thread to load before it fails. */
export const READER_START_TIMEOUT_MS = 60_000

/** Compiled, piscina loads the task itself; from source, through a shim that brings tsx (see there). */
const TASK_FILENAME = (
  import.meta.url.endsWith('.ts')
    ? new URL('./reader-task-bootstrap.mjs', import.meta.url)
    : siblingModule('reader-task', import.meta.url)
).href

/**
 * The reader pool: log reads big enough to matter run in piscina threads and come back as
 * transferred buffers of ready-to-send JSON, so the main thread neither reads LMDB nor copies
 * the answer (docs/design/ARCHITECTURE.md, point 6). The thread side is reader-task.ts.
 *
 * Owner: the engine's main thread creates it, calls readLogJson, and closes it. The threads
 * start at start() or at the first read, not at construction: a reader thread needs about
 * half a second to start and load the engine (measured, see measure-log-read.ts), and an engine
 * that never serves a big read never pays it. The piscina pool is dropped at close: a closed
 * piscina pool accepts tasks again and starts new threads, so nothing may reach it after close.
 */
export class ReaderPool {
  readonly #readers: number
  readonly #memoryMb: number
  readonly #idleTimeoutMs: number
  readonly #queueMax: number
  readonly #onError: (error: Error) => void
  #pool: Piscina | null = null
  #started: Promise<void> | null = null
  #ready = false
  #closed: Promise<void> | null = null
  /** Reads accepted and not yet answered: close() lets them finish. */
  readonly #reading = new Set<Promise<unknown>>()

  constructor(options: ReaderPoolOptions = {}) {
    this.#readers = integerOption('readers', options.readers, READERS_DEFAULT, 1, READERS_MAX)
    this.#memoryMb = integerOption(
      'readerMemoryMb',
      options.readerMemoryMb,
      READER_MEMORY_MB_DEFAULT,
      READER_MEMORY_MB_MIN,
      64 * 1024,
    )
    this.#idleTimeoutMs = integerOption(
      'idleTimeoutMs',
      options.idleTimeoutMs,
      READER_IDLE_TIMEOUT_MS_DEFAULT,
      0,
      24 * 60 * 60 * 1000,
    )
    // At least one per thread: start() queues one warm-up per thread before any is ready.
    this.#queueMax = integerOption('queueMax', options.queueMax, READER_QUEUE_MAX_DEFAULT, this.#readers, 1_000_000)
    this.#onError = options.onError ?? (() => {})
  }

  /**
   * The shape's committed entries in (since, upTo] as one JSON array, read in a reader thread.
   * Same contract as the engine's readLogJson (SNAPSHOT_INCOMPLETE: stream instead); errors
   * keep their code; a reader thread that dies or a full queue gives STORAGE_ERROR (with the
   * cause); after close, ENGINE_CLOSED.
   */
  async readLogJson(request: ReadLogJsonRequest): Promise<Buffer> {
    const pool = this.#openPool()
    // Accepted: from here on close() waits for this read, even if the threads are still starting.
    const run = this.start().then(() => pool.run(request))
    this.#reading.add(run)
    let result: unknown
    try {
      result = await run
    } catch (error) {
      if (this.#closed !== null) throw closedError()
      if (error instanceof EngineError) throw error
      const message = error instanceof Error ? error.message : String(error)
      throw new EngineError(ErrorCode.STORAGE_ERROR, `reader thread failed: ${message}`, { cause: error })
    } finally {
      this.#reading.delete(run)
    }
    // The transferred buffer arrives as a Uint8Array (a structured clone drops Buffer's prototype).
    if (result instanceof Uint8Array) return Buffer.from(result.buffer, result.byteOffset, result.byteLength)
    throw failureError(result as ReadLogJsonFailure)
  }

  /**
   * Starts every reader thread and loads the task in each; resolves when they can serve reads
   * at once. Idempotent; readLogJson calls it. The engine may call it early (without awaiting)
   * and read inline until `ready`.
   */
  start(): Promise<void> {
    if (this.#closed !== null) return Promise.reject(closedError())
    this.#started ??= this.#start()
    return this.#started
  }

  async #start(): Promise<void> {
    const pool = this.#openPool()
    try {
      // One warm-up per thread, held until all have arrived (warm-up-barrier.ts): when they
      // end, every thread has loaded the task, lmdb's addon included.
      const barrier = warmUpBarrier(this.#readers, READER_START_TIMEOUT_MS)
      // A warm-up that fails (its thread died) releases the others, and start() ends only
      // when every warm-up has: no thread is still loading when it settles.
      const warmUps = await Promise.allSettled(
        Array.from({ length: this.#readers }, () =>
          (pool.run(barrier, { name: 'warmUp' }) as Promise<boolean>).catch((error: unknown) => {
            giveUp(barrier)
            throw error
          }),
        ),
      )
      for (const warmUp of warmUps) if (warmUp.status === 'rejected') throw warmUp.reason
      if (warmUps.some((warmUp) => warmUp.status === 'fulfilled' && !warmUp.value))
        throw new Error(`not every reader thread started within ${READER_START_TIMEOUT_MS} ms`)
    } catch (error) {
      this.#started = null
      if (this.#closed !== null) throw closedError()
      const message = error instanceof Error ? error.message : String(error)
      throw new EngineError(ErrorCode.STORAGE_ERROR, `reader threads failed to start: ${message}`, { cause: error })
    }
    this.#ready = true
  }

  /** True once start() resolved: a read will not wait for a thread to start. */
  get ready(): boolean {
    return this.#ready && this.#closed === null
  }

  /** Reads waiting for a thread. */
  get queueSize(): number {
    return this.#pool?.queueSize ?? 0
  }

  /**
   * True when another read would be refused: read inline or stream instead. Counts every read
   * accepted and not answered (a thread's, piscina's queue, and those not handed to piscina
   * yet: a read reaches it a microtask after readLogJson, so piscina's own queue size let a
   * burst in one turn past its limit, refused as STORAGE_ERROR).
   */
  get saturated(): boolean {
    return this.#reading.size >= this.#readers + this.#queueMax
  }

  /** Reader threads running now (0 before the first read and after close). */
  get threads(): number {
    return this.#pool?.threads.length ?? 0
  }

  /** Finishes the reads in flight and queued, then stops every thread. Later reads: ENGINE_CLOSED. */
  close(): Promise<void> {
    this.#closed ??= this.#close()
    return this.#closed
  }

  async #close(): Promise<void> {
    // Threads still starting are let finish first: piscina's close terminates a thread that has
    // no task, loaded or not, and a thread terminated while it loads lmdb's addon aborts the
    // whole process (node-addon-api: napi_throw fails in a terminating thread, which it treats
    // as fatal; reproduced with plain workers that load lmdb and are terminated at random).
    await Promise.allSettled([...this.#reading, ...(this.#started === null ? [] : [this.#started])])
    const pool = this.#pool
    this.#pool = null
    if (pool !== null) await pool.close()
  }

  #openPool(): Piscina {
    if (this.#closed !== null) throw closedError()
    if (this.#pool !== null) return this.#pool
    const pool = new Piscina({
      filename: TASK_FILENAME,
      // Every thread starts at once and stays: a thread started under load would make the read
      // that woke it wait for the thread start and the module load.
      minThreads: this.#readers,
      maxThreads: this.#readers,
      idleTimeout: this.#idleTimeoutMs,
      maxQueue: this.#queueMax,
      // A read is synchronous: a thread takes one at a time.
      concurrentTasksPerWorker: 1,
      // 'disabled' measured fastest for round trips (docs/design/packages-notes.md, piscina), and it keeps the
      // thread's event loop running between reads ('sync' freezes it in Atomics.wait).
      atomics: 'disabled',
      resourceLimits: { maxOldGenerationSizeMb: this.#memoryMb },
      closeTimeout: READER_CLOSE_TIMEOUT_MS,
      recordTiming: false,
      workerHistogram: false,
    })
    // Without a listener, a thread failing outside a read would be an uncaught 'error' event,
    // killing the process; piscina already replaces the thread.
    pool.on('error', (error: Error) => this.#onError(error))
    this.#pool = pool
    return pool
  }
}

function failureError(failure: ReadLogJsonFailure): EngineError {
  const error = deserializeError(failure.error)
  if (error instanceof EngineError) return error
  // Not one of ours (e.g. lmdb-js failing a read): still a coded error for the caller.
  return new EngineError(ErrorCode.STORAGE_ERROR, `reading the log in a reader thread: ${error.message}`, {
    cause: error,
  })
}

function closedError(): EngineError {
  return new EngineError(ErrorCode.ENGINE_CLOSED, 'the reader pool is closed')
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new EngineError(
      ErrorCode.INVALID_OPTION,
      `${name} must be an integer in [${min}, ${max}], got ${String(value)}`,
    )
  }
  return value
}
