import type { Worker } from 'node:worker_threads'
import { EngineError, ErrorCode, type ShapeRef } from '@shapestore/engine'
import {
  deserializeError,
  type FromWriter,
  type OpRequest,
  type ToWriter,
  type WriterInit,
  type WriterOp,
} from './protocol.ts'
import { startTsWorker } from './ts-worker.ts'

/**
 * The main-thread side of one writer worker: routes operations to it in batches (every op
 * issued in one turn travels in one message), matches results to callers, and supervises the
 * thread. The worker starts on the first operation (lazy start: opening the engine starts no
 * thread). If it dies (an uncaught throw, process.exit in the worker, the memory limit), every
 * operation it had not acknowledged rejects with WRITER_CRASHED — replaying is safe, appends are
 * idempotent — and a new worker starts at the next operation, first republishing the keys of
 * every shape the old one wrote, so no key it left stale survives.
 *
 * Owner: the main thread (the worker runtime). Everything acknowledged was committed durably by
 * the worker before its result was sent, so a crash loses nothing acknowledged.
 */
export interface WriterClientOptions {
  readonly init: Omit<WriterInit, 'republish'>
  readonly entry: URL
  readonly memoryLimitMb: number | undefined
  readonly onPublished: (handles: readonly string[]) => void
  /** Called after the worker died unexpectedly (for monitoring and tests). */
  readonly onCrash: (writerIndex: number, exitCode: number) => void
}

interface Pending {
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

export class WriterClient {
  readonly #options: WriterClientOptions
  readonly #pending = new Map<number, Pending>()
  /** Shapes this writer has written: the ones to republish after a crash. */
  readonly #written = new Map<number, ShapeRef>()
  #worker: Worker | null = null
  #queue: OpRequest[] = []
  #nextId = 1
  #closing = false
  /** Whether an operation succeeded since the last crash: a worker that dies at once is not respawned in a loop. */
  #healthy = true
  #lastError: Error | null = null

  constructor(options: WriterClientOptions) {
    this.#options = options
  }

  request(op: WriterOp): Promise<void> {
    if (this.#closing) return Promise.reject(new EngineError(ErrorCode.ENGINE_CLOSED, 'the writers are closing'))
    if ('ref' in op) this.#written.set(op.ref.shapeId, op.ref)
    if (op.kind === 'append') for (const ref of op.refs) this.#written.set(ref.shapeId, ref)
    if (op.kind === 'drop') this.#written.delete(op.ref.shapeId)
    return this.#send(op)
  }

  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    const worker = this.#worker
    if (worker === null) return
    await this.#send({ kind: 'close' }).catch(() => {})
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    await worker.terminate()
    await exited
  }

  #send(op: WriterOp): Promise<void> {
    const id = this.#nextId++
    const promise = new Promise<void>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    if (this.#queue.length === 0) queueMicrotask(() => this.#flush())
    this.#queue.push({ id, op })
    return promise
  }

  #flush(): void {
    const requests = this.#queue
    this.#queue = []
    if (requests.length === 0) return
    const message: ToWriter = { type: 'ops', requests }
    this.#ensureWorker().postMessage(message)
  }

  #ensureWorker(): Worker {
    if (this.#worker !== null) return this.#worker
    const init: WriterInit = { ...this.#options.init, republish: [...this.#written.values()] }
    const memoryLimitMb = this.#options.memoryLimitMb
    const worker = startTsWorker(this.#options.entry, {
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

  #receive(message: FromWriter): void {
    if (message.type === 'published') {
      this.#options.onPublished(message.handles)
      return
    }
    if (message.type !== 'results') return
    for (const { id, error } of message.results) {
      const pending = this.#pending.get(id)
      if (pending === undefined) continue
      this.#pending.delete(id)
      this.#healthy = true
      if (error === undefined) pending.resolve()
      else pending.reject(deserializeError(error))
    }
  }

  #exited(worker: Worker, code: number): void {
    if (this.#worker !== worker) return
    this.#worker = null
    if (this.#closing) return
    const crashed = new EngineError(
      ErrorCode.WRITER_CRASHED,
      `writer ${this.#options.init.writerIndex} exited (code ${code}${this.#lastError === null ? '' : `: ${this.#lastError.message}`}) before acknowledging; replaying is safe`,
      { cause: this.#lastError },
    )
    this.#lastError = null
    for (const pending of this.#pending.values()) pending.reject(crashed)
    this.#pending.clear()
    this.#queue = []
    this.#options.onCrash(this.#options.init.writerIndex, code)
    // Republish at once what the dead worker may have left stale, unless it died before doing
    // any work (then the next operation starts it, so a worker that cannot start does not spin).
    if (this.#healthy && this.#written.size > 0) {
      this.#healthy = false
      this.#ensureWorker()
    }
  }
}
