/**
 * The reader pool's start barrier. ReaderPool.start() runs one warm-up per thread; each holds
 * its thread until every thread's warm-up has arrived, so the warm-ups land one on each thread
 * (a thread takes one task at a time) and their end means every thread has loaded the task
 * module, lmdb's addon included, not only the fastest thread. That matters at close: a thread
 * stopped while it loads lmdb's addon aborts the process (docs/reliability.md).
 */

/** What each warm-up is sent: words all the pool's threads share. */
export interface WarmUpBarrier {
  /** Two Int32s: [ARRIVED] warm-ups arrived so far; [GAVE_UP] 1 once the pool gave up (a thread died starting). */
  readonly arrived: SharedArrayBuffer
  /** Threads in the pool: every warm-up waits until this many arrived. */
  readonly threads: number
  /** How long a warm-up waits for the others before it gives up (a thread that never starts). */
  readonly timeoutMs: number
}

export const ARRIVED = 0
export const GAVE_UP = 1

export function warmUpBarrier(threads: number, timeoutMs: number): WarmUpBarrier {
  return { arrived: new SharedArrayBuffer(8), threads, timeoutMs }
}

/** Releases every warm-up still waiting: they answer false. */
export function giveUp(barrier: WarmUpBarrier): void {
  const words = new Int32Array(barrier.arrived)
  Atomics.store(words, GAVE_UP, 1)
  Atomics.notify(words, ARRIVED)
}

/** One thread's warm-up (run in the reader thread): true once all arrived, false if released or timed out. */
export function warmUp(barrier: WarmUpBarrier): boolean {
  const words = new Int32Array(barrier.arrived)
  Atomics.add(words, ARRIVED, 1)
  Atomics.notify(words, ARRIVED)
  const deadline = Date.now() + barrier.timeoutMs
  for (let seen = Atomics.load(words, ARRIVED); seen < barrier.threads; seen = Atomics.load(words, ARRIVED)) {
    const left = deadline - Date.now()
    if (left <= 0 || Atomics.load(words, GAVE_UP) !== 0) return false
    Atomics.wait(words, ARRIVED, seen, left)
  }
  return true
}
