import { EngineError, ErrorCode } from '../errors.ts'
import type { ShapeHandle } from '../handle.ts'

interface Waiter {
  readonly ready: () => boolean
  readonly settle: (result: boolean | EngineError) => void
}

export interface WaitOptions {
  readonly timeoutMs: number
  readonly signal?: AbortSignal | undefined
}

/**
 * Callers waiting for a shape to change (waitForOffset, readers tailing a snapshot). Each
 * publish of a shape's keys calls `notify` once; the waiters of that shape whose condition then
 * holds are woken: no per-waiter message, no polling.
 *
 * Waking is deferred to the next turn of the event loop (one setImmediate for every shape
 * notified meanwhile), so the commit's acknowledgement goes first. Woken readers each run their
 * response synchronously up to their next await, and a fanout wakes thousands of them: resolved
 * in the same turn, their continuations queue ahead of the writer's caller's (measured in the
 * Electric example: 1,500 live responses held a replicated transaction's acknowledgement from
 * 14-40 ms, when the writer's commit arrived, to 148-250 ms).
 *
 * Owner: the main thread (the facade); waiters live only here.
 */
export class ShapeWaiters {
  readonly #waiting = new Map<ShapeHandle, Set<Waiter>>()

  /** Resolves true once `ready()` holds after a notify, false when the timeout passes first. */
  wait(handle: ShapeHandle, ready: () => boolean, { timeoutMs, signal }: WaitOptions): Promise<boolean> {
    if (signal?.aborted === true) return Promise.reject(abortedError())
    return new Promise<boolean>((resolve, reject) => {
      let waiters = this.#waiting.get(handle)
      if (waiters === undefined) {
        waiters = new Set()
        this.#waiting.set(handle, waiters)
      }
      const set = waiters
      const onAbort = () => waiter.settle(abortedError())
      const timer = setTimeout(() => waiter.settle(false), timeoutMs)
      const waiter: Waiter = {
        ready,
        settle: (result) => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          set.delete(waiter)
          if (set.size === 0 && this.#waiting.get(handle) === set) this.#waiting.delete(handle)
          if (result instanceof EngineError) reject(result)
          else resolve(result)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      set.add(waiter)
    })
  }

  /** Shapes notified since the last wake, and whether a wake is scheduled. */
  readonly #due = new Set<ShapeHandle>()
  #wakeScheduled = false
  readonly #wakeDue = () => {
    this.#wakeScheduled = false
    const due = [...this.#due]
    this.#due.clear()
    for (const handle of due) this.#wake(handle)
  }

  /** `handle` changed: its waiters whose condition holds are woken in the next turn. */
  notify(handle: ShapeHandle): void {
    if (!this.#waiting.has(handle)) return
    this.#due.add(handle)
    if (this.#wakeScheduled) return
    this.#wakeScheduled = true
    setImmediate(this.#wakeDue)
  }

  #wake(handle: ShapeHandle): void {
    const waiters = this.#waiting.get(handle)
    if (waiters === undefined) return
    for (const waiter of waiters) {
      let ready: boolean
      try {
        ready = waiter.ready()
      } catch (error) {
        // The condition cannot be evaluated any more (e.g. the shape is gone): hand the error to that waiter.
        waiter.settle(error instanceof EngineError ? error : new EngineError(ErrorCode.SHAPE_REMOVED, String(error)))
        continue
      }
      if (ready) waiter.settle(true)
    }
  }

  /** Rejects every waiter of the shape (it was removed). */
  fail(handle: ShapeHandle, error: EngineError): void {
    for (const waiter of this.#waiting.get(handle) ?? []) waiter.settle(error)
  }

  failAll(error: EngineError): void {
    for (const handle of [...this.#waiting.keys()]) this.fail(handle, error)
  }

  /** Waiters currently registered (for tests and metrics). */
  get size(): number {
    let size = 0
    for (const waiters of this.#waiting.values()) size += waiters.size
    return size
  }
}

function abortedError(): EngineError {
  return new EngineError(ErrorCode.ABORTED, 'the wait was aborted')
}
