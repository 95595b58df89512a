import { performance } from 'node:perf_hooks'

const TRANSACTIONS_KEPT = 32

/**
 * The server's own share of a write's fanout, for benchmarks: per transaction, the time from
 * its POST arriving to each live response carrying it being handed to the socket. A client on
 * the same machine adds its own processing on top; this separates the two. Kept for the last
 * TRANSACTIONS_KEPT transactions only; read through `GET /v1/stats?tx=<n>`.
 */
export class FanoutTimes {
  readonly #transactions = new Map<number, { readonly receivedAt: number; readonly delaysMs: number[] }>()

  /** The transaction `tx` committed; its POST arrived at `receivedAt` (performance.now()). */
  committed(tx: number, receivedAt: number): void {
    this.#transactions.set(tx, { receivedAt, delaysMs: [] })
    if (this.#transactions.size > TRANSACTIONS_KEPT) {
      this.#transactions.delete(this.#transactions.keys().next().value as number)
    }
  }

  /** A live response whose last change is of transaction `tx` was just written. */
  served(tx: number): void {
    const entry = this.#transactions.get(tx)
    if (entry !== undefined) entry.delaysMs.push(performance.now() - entry.receivedAt)
  }

  summary(tx: number): { tx: number; responses: number; p50Ms: number; p99Ms: number; maxMs: number } | null {
    const entry = this.#transactions.get(tx)
    if (entry === undefined) return null
    const sorted = [...entry.delaysMs].sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0
    return { tx, responses: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 }
  }
}
