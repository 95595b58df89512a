import { type CommitCounters, type PartitionOptions, PartitionStore } from './partition-store.ts'

/**
 * The partitions of one data directory, each opened on first use (opening one costs ~1 ms;
 * an engine that only serves a few shapes never opens the rest, and open time stays flat).
 */
export class PartitionStores {
  readonly #dir: string
  readonly #options: PartitionOptions
  readonly #open = new Map<number, PartitionStore>()
  #commitCounters: CommitCounters | null = null

  constructor(dir: string, options: PartitionOptions) {
    this.#dir = dir
    this.#options = options
  }

  get(index: number): PartitionStore {
    let store = this.#open.get(index)
    if (store === undefined) {
      store = new PartitionStore(this.#dir, index, this.#options)
      if (this.#commitCounters !== null) store.useCommitCounters(this.#commitCounters)
      this.#open.set(index, store)
    }
    return store
  }

  /** Opens (creating if needed) the partition's environment and makes its creation durable. */
  prepare(index: number): void {
    this.get(index).syncCreation()
  }

  /** Writers on other threads count commits per partition here; reads renew only when needed. */
  useCommitCounters(counters: CommitCounters): void {
    this.#commitCounters = counters
    for (const store of this.#open.values()) store.useCommitCounters(counters)
  }

  /** Shape metadata records read from LMDB on this thread, over every partition opened. */
  get metaRecordsRead(): number {
    let sum = 0
    for (const store of this.#open.values()) sum += store.metaRecordsRead
    return sum
  }

  /** How many partitions have been opened so far. */
  get openCount(): number {
    return this.#open.size
  }

  async close(): Promise<void> {
    const stores = [...this.#open.values()]
    this.#open.clear()
    await Promise.all(stores.map((store) => store.close()))
  }
}
