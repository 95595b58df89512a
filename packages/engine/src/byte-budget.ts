/**
 * A bound on bytes in flight: `acquire` waits (first come, first served) while taking `bytes`
 * would pass the limit, and `release` hands the bytes back. A request bigger than the whole
 * limit goes when nothing else is held, so no size waits forever.
 *
 * Owner: the engine, for snapshot parts encoded and not yet committed. Without it, thousands of
 * snapshots started by one commit encode all their first parts in one turn: hundreds of
 * megabytes held at once, and on the worker runtime none of the transfer buffers comes back
 * for reuse before the writers have all of it.
 */
export class ByteBudget {
  readonly #limit: number
  #held = 0
  readonly #waiting: { readonly bytes: number; readonly resolve: () => void }[] = []

  constructor(limit: number) {
    this.#limit = limit
  }

  /** Resolves once `bytes` are taken from the budget. */
  acquire(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#held += bytes
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#waiting.push({ bytes, resolve }))
  }

  release(bytes: number): void {
    this.#held -= bytes
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as { bytes: number; resolve: () => void }
      if (!this.#fits(next.bytes)) return
      this.#waiting.shift()
      this.#held += next.bytes
      next.resolve()
    }
  }

  #fits(bytes: number): boolean {
    return this.#held === 0 || this.#held + bytes <= this.#limit
  }
}
