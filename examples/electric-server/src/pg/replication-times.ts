const TRANSACTIONS_KEPT = 1_024

/** Where one replicated transaction's time went, in ms. */
export interface AppliedTransaction {
  /** Its commit in Postgres → durable in every shape's log (both clocks are this machine's). */
  readonly lagMs: number
  /** Turning the decoded changes into rows of the example's types. */
  readonly decodeMs: number
  /** Where-evaluation and building each shape's messages (planFanout). */
  readonly planMs: number
  /** The engine's appendToLogs, durable. */
  readonly appendMs: number
  readonly rows: number
}

/**
 * The follower's figures for `/v1/stats`: replication lag over the last TRANSACTIONS_KEPT
 * transactions, and the total time spent per stage since the start, so a benchmark can say
 * where the time goes.
 */
export class ReplicationTimes {
  readonly #lags: number[] = []
  transactions = 0
  rows = 0
  decodeMs = 0
  planMs = 0
  appendMs = 0

  record(applied: AppliedTransaction): void {
    this.transactions++
    this.rows += applied.rows
    this.decodeMs += applied.decodeMs
    this.planMs += applied.planMs
    this.appendMs += applied.appendMs
    this.#lags.push(applied.lagMs)
    if (this.#lags.length > TRANSACTIONS_KEPT) this.#lags.shift()
  }

  summary(): Record<string, unknown> {
    const sorted = [...this.#lags].sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0
    return {
      transactions: this.transactions,
      rows: this.rows,
      lagMs: { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, last: this.#lags.at(-1) ?? 0, of: sorted.length },
      totalMs: { decode: this.decodeMs, plan: this.planMs, append: this.appendMs },
    }
  }
}
