import type { ShapeHandle } from './handle.ts'
import type { PartitionStores } from './log-store/partition-stores.ts'
import { PartitionWriter } from './log-store/partition-writer.ts'
import type { ReadPathKeys } from './read-path/read-path-keys.ts'
import type { ShapeRef } from './shape-ref.ts'
import { partitionOf, type WriterOpArgs, type WriterOpName } from './write-ops.ts'

export interface PartitionWritersOptions {
  readonly chunkBytesThreshold: number
  /** Called with a shape's keys after each commit that touched it (and when its state loads). */
  readonly publish: (handle: ShapeHandle, keys: ReadPathKeys) => void
  /** Called after each commit of `partition`, before its keys are published. */
  readonly onCommit?: ((partition: number) => void) | undefined
}

/**
 * The writers of the partitions one thread owns: a PartitionWriter per partition, made on
 * its first operation, and the dispatch of an operation (write-ops.ts) to its partition's
 * writer. The inline runtime runs one on the main thread; each writer thread runs one.
 *
 * Owner: the thread that made it; nothing else writes those partitions.
 */
export class PartitionWriters {
  readonly #stores: PartitionStores
  readonly #options: PartitionWritersOptions
  readonly #writers = new Map<number, PartitionWriter>()

  constructor(stores: PartitionStores, options: PartitionWritersOptions) {
    this.#stores = stores
    this.#options = options
  }

  /** Runs one operation on its partition's writer; a synchronous throw becomes a rejection. */
  run<K extends WriterOpName>(kind: K, args: WriterOpArgs[K]): Promise<void> {
    try {
      const writer = this.#writer(partitionOf(args))
      return (writer[kind] as (args: WriterOpArgs[K]) => Promise<void>).call(writer, args)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Publishes the shape's committed keys as they are on disk (see PartitionWriter.republish). */
  republish(ref: ShapeRef): void {
    this.#writer(ref.partition).republish(ref)
  }

  /** Commits what is pending in every partition and forgets the writers. */
  async close(): Promise<void> {
    const writers = [...this.#writers.values()]
    this.#writers.clear()
    await Promise.all(writers.map((writer) => writer.close()))
  }

  #writer(partition: number): PartitionWriter {
    let writer = this.#writers.get(partition)
    if (writer === undefined) {
      const { onCommit } = this.#options
      writer = new PartitionWriter(this.#stores.get(partition), {
        chunkBytesThreshold: this.#options.chunkBytesThreshold,
        publish: this.#options.publish,
        onCommit: onCommit === undefined ? undefined : () => onCommit(partition),
      })
      this.#writers.set(partition, writer)
    }
    return writer
  }
}
