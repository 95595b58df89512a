import type { Worker } from 'node:worker_threads'
import {
  EngineError,
  ErrorCode,
  mapBytes,
  refsOf,
  type ShapeRef,
  type WriterOpArgs,
  type WriterOpName,
} from '@shapestore/engine'
import {
  deserializeError,
  type FromWriter,
  NO_SLOT,
  type OpRequest,
  type ToWriter,
  type WriterInit,
} from './protocol.ts'
import type { SlotRef } from './shared-table/slots.ts'
import { startWorker } from './thread-entry.ts'
import { TransferFrames } from './transfer-frames.ts'

/** What a WriterClient starts its worker with, and how it reports. */
export interface WriterClientOptions {
  readonly init: Omit<WriterInit, 'republish'>
  readonly entry: URL
  readonly memoryLimitMb: number | undefined
  /** The shape's slot in the shared table (undefined: no room), sent with every operation on it. */
  readonly slotFor: (handle: string) => SlotRef | undefined
  readonly onPublished: (handles: readonly string[]) => void
  /** Commits whose keys the writer could not put in the table: what the table holds of them must go. */
  readonly onUnpublished: (handles: readonly string[]) => void
  /** The worker exited: these shapes' slots may have been left locked. */
  readonly onAbandoned: (handles: Iterable<string>) => void
  /** Called after the worker died unexpectedly (for monitoring and tests). */
  readonly onCrash: (writerIndex: number, exitCode: number) => void
}

interface Pending {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/**
 * The main-thread side of one writer worker: sends it operations in batches (every op issued
 * in one turn travels in one message, its bulk bytes in transferred buffers), matches results
 * to callers, and supervises the thread. The worker starts on the first operation (lazy start: opening the engine starts no
 * thread). If it dies (an uncaught throw, process.exit in the worker, the memory limit), every
 * operation it had not acknowledged rejects with WRITER_CRASHED — replaying is safe, appends are
 * idempotent — and a new worker starts at the next operation, first republishing the keys of
 * every shape the old one wrote, so no key it left stale survives.
 *
 * Owner: the main thread (the worker runtime). Everything acknowledged was committed durably by
 * the worker before its result was sent, so a crash loses nothing acknowledged.
 */
export class WriterClient {
  readonly #options: WriterClientOptions
  readonly #pending = new Map<number, Pending>()
  /** Shapes this writer has written: the ones to republish after a crash. */
  readonly #written = new Map<number, ShapeRef>()
  #worker: Worker | null = null
  #queue: OpRequest[] = []
  readonly #frames = new TransferFrames()
  #nextId = 1
  #closing = false
  /** Whether an operation succeeded since the last crash: a worker that dies at once is not respawned in a loop. */
  #healthy = true
  #lastError: Error | null = null

  constructor(options: WriterClientOptions) {
    this.#options = options
  }

  request<K extends WriterOpName>(kind: K, args: WriterOpArgs[K]): Promise<void> {
    if (this.#closing) return Promise.reject(new EngineError(ErrorCode.ENGINE_CLOSED, 'the writers are closing'))
    const refs = refsOf(args)
    const slots: number[] = []
    if (kind !== 'drop') {
      for (const ref of refs) {
        this.#written.set(ref.shapeId, ref)
        const slot = this.#options.slotFor(ref.handle)
        slots.push(slot?.slot ?? NO_SLOT, slot?.generation ?? 0)
      }
    }
    // Bytes the facade encoded into this turn's buffers go as they are; others are copied in.
    const sent = mapBytes(args, (bytes) => this.#frames.add(bytes))
    const id = this.#nextId++
    const promise = this.#expect(id)
    // A dropped shape stays among the written ones until its drop settles: a thread that dies
    // before that may have left its slot locked, which only the shapes written are checked for
    // (onAbandoned). After, it is not republished.
    if (kind === 'drop') {
      const forget = () => {
        for (const ref of refs) this.#written.delete(ref.shapeId)
      }
      promise.then(forget, forget)
    }
    // Flushed on the next turn, not in a microtask: a caller's continuations (each append's
    // resolution issuing the next, through several promise hops) all land in one message, and
    // a message costs a postMessage and at least one transfer buffer.
    if (this.#queue.length === 0) setImmediate(() => this.#flush())
    this.#queue.push({ id, kind, args: sent, slots } as OpRequest)
    if (this.#frames.sendEarly) this.#flush()
    return promise
  }

  /** `bytes` bytes in the next message to this writer, to encode an operation's bulk data into. */
  reserve(bytes: number): Buffer {
    return this.#frames.reserve(bytes)
  }

  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    // What was issued before close goes out first (starting the thread if it has not started).
    this.#flush()
    const worker = this.#worker
    if (worker === null) return
    const id = this.#nextId++
    const closed = this.#expect(id)
    // Listened for first: a thread that dies now (its exit answers the close, #exited) must not
    // leave this waiting for an exit that has already happened.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage({ type: 'close', id } satisfies ToWriter)
    await closed.catch(() => {})
    await worker.terminate()
    await exited
  }

  #expect(id: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
  }

  #flush(): void {
    const requests = this.#queue
    if (requests.length === 0) return
    this.#queue = []
    const message: ToWriter = { type: 'ops', requests }
    this.#ensureWorker().postMessage(message, this.#frames.take())
  }

  #ensureWorker(): Worker {
    if (this.#worker !== null) return this.#worker
    const republish = [...this.#written.values()].map((ref) => {
      // A plain pair: the table's own SlotRef object carries its cached keys.
      const slot = this.#options.slotFor(ref.handle)
      return { ref, slot: slot === undefined ? null : { slot: slot.slot, generation: slot.generation } }
    })
    const init: WriterInit = { ...this.#options.init, republish }
    const memoryLimitMb = this.#options.memoryLimitMb
    const worker = startWorker(this.#options.entry, {
      workerData: init,
      ...(memoryLimitMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } }),
    })
    worker.on('message', (message: FromWriter) => this.#receive(message))
    // An 'error' event (uncaught exception) is always followed by 'exit'; 'exit' handles both.
    worker.on('error', (error) => {
      this.#lastError = error
    })
    worker.on('exit', (code) => this.#exited(worker, code))
    this.#worker = worker
    return worker
  }

  *#handlesWritten(): Iterable<string> {
    for (const ref of this.#written.values()) yield ref.handle
  }

  #receive(message: FromWriter): void {
    if (message.type !== 'done') return
    this.#frames.recycle(message.frames)
    // Emptied before anyone is woken or answered: a woken reader must not find a stale slot.
    if (message.unpublished.length > 0) this.#options.onUnpublished(message.unpublished)
    if (message.published.length > 0) this.#options.onPublished(message.published)
    const pending = this.#pending
    for (const id of message.succeeded) {
      const waiting = pending.get(id)
      if (waiting === undefined) continue
      pending.delete(id)
      waiting.resolve()
    }
    for (const { id, error } of message.failed) {
      const waiting = pending.get(id)
      if (waiting === undefined) continue
      pending.delete(id)
      waiting.reject(deserializeError(error))
    }
    if (message.succeeded.length + message.failed.length > 0) this.#healthy = true
  }

  #exited(worker: Worker, code: number): void {
    if (this.#worker !== worker) return
    this.#worker = null
    const crashed = new EngineError(
      ErrorCode.WRITER_CRASHED,
      `writer ${this.#options.init.writerIndex} exited (code ${code}${this.#lastError === null ? '' : `: ${this.#lastError.message}`}) before acknowledging; replaying is safe`,
      { cause: this.#lastError },
    )
    this.#lastError = null
    // Also while closing: a thread that died with the close (or calls) unanswered left them
    // waiting for good, and close() with them. After a clean close nothing is left here.
    for (const pending of this.#pending.values()) pending.reject(crashed)
    this.#pending.clear()
    if (this.#closing) return
    // The thread is gone: a slot lock it held (it died mid-publish) is held by no one now.
    this.#options.onAbandoned(this.#handlesWritten())
    this.#queue = []
    this.#frames.take()
    this.#options.onCrash(this.#options.init.writerIndex, code)
    // Republish at once what the dead worker may have left stale, unless it died before doing
    // any work (then the next operation starts it, so a worker that cannot start does not spin).
    if (this.#healthy && this.#written.size > 0) {
      this.#healthy = false
      this.#ensureWorker()
    }
  }
}
