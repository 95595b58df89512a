import { availableParallelism } from 'node:os'
import { partitionOf, type Runtime, type RuntimeContext, type Writers, writerOpsVia } from '@shapestore/engine'
import { ReaderPool } from './reader-pool.ts'
import { SharedReadPathTable } from './shared-table/shared-table.ts'
import { siblingModule } from './thread-entry.ts'
import { validateWorkerRuntimeOptions, WRITERS_MAX } from './worker-runtime-options.ts'
import { WriterClient } from './writer-client.ts'

export interface WorkerRuntimeOptions {
  /**
   * Writer threads. Each owns the partitions p with p % writers == its index. Default: one per
   * core (os.availableParallelism()), never more than the partitions or WRITERS_MAX. Measured on 2 cores
   * (append-throughput): 2 writers gave 1.42x the throughput of 1 — a writer spends most of a
   * commit waiting for fsync, so a writer per core pays although the main thread needs a core
   * too — and 4 writers gave no more than 2 (519k vs 573k entries/s, one run each).
   */
  readonly writers?: number | undefined
  /** Heap limit of each writer thread, in MiB (a writer over it is replaced). Default: Node's. */
  readonly writerMemoryMb?: number | undefined
  /** Called when a writer thread dies unexpectedly (it is replaced). */
  readonly onWriterCrash?: ((writerIndex: number, exitCode: number) => void) | undefined
  /** Reader threads for big log reads (getLogJson of a snapshot or closed chunk). Default 2. */
  readonly readers?: number | undefined
  /** Heap limit of each reader thread, in MiB. Default 64. */
  readonly readerMemoryMb?: number | undefined
  /**
   * Slots of the shared read-path-key table: shapes a writer has had. A shape only read takes
   * none; a written shape beyond it reads LMDB after each commit. Default 100,000.
   */
  readonly tableCapacity?: number | undefined
  /**
   * Shapes only read whose keys the main thread keeps without a slot (the engine's
   * READ_PATH_KEYS_MIN..READ_PATH_KEYS_MAX, default READ_PATH_KEYS_DEFAULT); past it the oldest goes.
   */
  readonly readPathKeys?: number | undefined
  /** The writer thread's module; tests substitute one that can be made to crash. */
  readonly writerEntry?: URL | undefined
}

/**
 * Writers in worker threads: every operation on a shape goes to the thread owning its
 * partition. Validation, handle resolution and the read path stay on the main thread (the
 * engine facade); the threads only commit and publish.
 */
export function workerRuntime(options: WorkerRuntimeOptions = {}): Runtime {
  validateWorkerRuntimeOptions(options)
  const writers = options.writers ?? Math.min(availableParallelism(), WRITERS_MAX)
  return async (context) => {
    const threads = new WriterThreads(context, { ...options, writers })
    const runtime: Writers = {
      // Every operation goes to the client of the thread that owns its partition.
      ...writerOpsVia((kind, args) => threads.clientFor(partitionOf(args)).request(kind, args)),
      bytesFor: (partition, bytes) => threads.clientFor(partition).reserve(bytes),
      table: threads.table,
      reader: threads.reader,
      commitCounters: threads.commitCounters,
      close: () => threads.close(),
    }
    return runtime
  }
}

/** The writer threads' clients, the shared table and counters they write, and the reader pool. */
class WriterThreads {
  readonly table: SharedReadPathTable
  readonly reader: ReaderPool
  readonly commitCounters: Int32Array
  readonly #context: RuntimeContext
  readonly #clients: WriterClient[]

  constructor(context: RuntimeContext, options: WorkerRuntimeOptions & { writers: number }) {
    this.#context = context
    this.table = new SharedReadPathTable({ capacity: options.tableCapacity, unslottedMax: options.readPathKeys })
    this.commitCounters = new Int32Array(new SharedArrayBuffer(4 * context.partitions))
    this.reader = new ReaderPool({ readers: options.readers, readerMemoryMb: options.readerMemoryMb })
    const entry = options.writerEntry ?? siblingModule('writer-worker', import.meta.url)
    this.#clients = Array.from(
      { length: Math.min(options.writers, context.partitions) },
      (_, writerIndex) =>
        new WriterClient({
          init: {
            dir: context.dir,
            writerIndex,
            chunkBytesThreshold: context.chunkBytesThreshold,
            partitionMapBytes: context.partitionMapBytes,
            slots: this.table.slotsBuffer,
            commitCounters: this.commitCounters,
          },
          entry,
          memoryLimitMb: options.writerMemoryMb,
          slotFor: (handle) => this.table.slotFor(handle),
          onPublished: (handles) => {
            for (const handle of handles) this.#context.onPublished(handle)
          },
          onUnpublished: (handles) => {
            for (const handle of handles) this.table.invalidate(handle)
          },
          onAbandoned: (handles) => this.table.releaseAbandoned(handles),
          onCrash: options.onWriterCrash ?? (() => {}),
        }),
    )
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.map((client) => client.close()), this.reader.close()])
  }

  clientFor(partition: number): WriterClient {
    return this.#clients[partition % this.#clients.length] as WriterClient
  }
}
