import { availableParallelism } from 'node:os'
import {
  groupSharedAppends,
  type Runtime,
  type RuntimeContext,
  type ShapeAppend,
  type ShapeRef,
  type Writers,
} from '@shapestore/engine'
import { ReaderPool } from './reader-pool.ts'
import { SharedReadPathTable } from './shared-table/shared-table.ts'
import { validateWorkerRuntimeOptions } from './worker-runtime-options.ts'
import { WriterClient } from './writer-client.ts'

export interface WorkerRuntimeOptions {
  /** Writer threads. Each owns the partitions p with p % writers == its index. Default 2. */
  readonly writers?: number | undefined
  /** Heap limit of each writer thread, in MiB (a writer over it is replaced). Default: Node's. */
  readonly writerMemoryMb?: number | undefined
  /** Called when a writer thread dies unexpectedly (it is replaced). */
  readonly onWriterCrash?: ((writerIndex: number, exitCode: number) => void) | undefined
  /** Reader threads for big log reads (getLogJson of a snapshot or closed chunk). Default 2. */
  readonly readers?: number | undefined
  /** Heap limit of each reader thread, in MiB. Default 64. */
  readonly readerMemoryMb?: number | undefined
  /** Shapes the shared read-path-key table holds (then TABLE_FULL). Default 100,000. */
  readonly tableCapacity?: number | undefined
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
  const writers = options.writers ?? Math.min(2, availableParallelism())
  return async (context) => new WorkerWriters(context, { ...options, writers })
}

class WorkerWriters implements Writers {
  readonly table: SharedReadPathTable
  readonly reader: ReaderPool
  readonly commitCounters: Int32Array
  readonly #context: RuntimeContext
  readonly #clients: WriterClient[]

  constructor(context: RuntimeContext, options: WorkerRuntimeOptions & { writers: number }) {
    this.#context = context
    this.table = new SharedReadPathTable(options.tableCapacity === undefined ? {} : { capacity: options.tableCapacity })
    this.commitCounters = new Int32Array(new SharedArrayBuffer(4 * context.partitions))
    this.reader = new ReaderPool({ readers: options.readers, readerMemoryMb: options.readerMemoryMb })
    const entry = options.writerEntry ?? new URL('./writer-worker.ts', import.meta.url)
    this.#clients = Array.from(
      { length: Math.min(options.writers, context.partitions) },
      (_, writerIndex) =>
        new WriterClient({
          init: {
            dir: context.dir,
            writerIndex,
            chunkBytesThreshold: context.chunkBytesThreshold,
            partitionMapBytes: context.partitionMapBytes,
            table: this.table.toShared(),
            commitCounters: this.commitCounters,
          },
          entry,
          memoryLimitMb: options.writerMemoryMb,
          onPublished: (handles) => {
            for (const handle of handles) this.#context.onPublished(handle)
          },
          onCrash: options.onWriterCrash ?? (() => {}),
        }),
    )
  }

  async append(appends: readonly ShapeAppend[]): Promise<void> {
    const groups = groupSharedAppends(appends, (ref) => this.#client(ref))
    await Promise.all(groups.map(({ key: client, refs, rows }) => client.request({ kind: 'append', refs, rows })))
  }

  setPgSnapshot: Writers['setPgSnapshot'] = (ref, pgSnapshot) =>
    this.#client(ref).request({ kind: 'setPgSnapshot', ref, pgSnapshot })
  markSnapshotStarted: Writers['markSnapshotStarted'] = (ref) =>
    this.#client(ref).request({ kind: 'markSnapshotStarted', ref })
  startSnapshot: Writers['startSnapshot'] = (ref) => this.#client(ref).request({ kind: 'startSnapshot', ref })
  writeSnapshotPart: Writers['writeSnapshotPart'] = (ref, write) =>
    this.#client(ref).request({ kind: 'writeSnapshotPart', ref, write })
  hibernate: Writers['hibernate'] = (ref) => this.#client(ref).request({ kind: 'hibernate', ref })
  drop: Writers['drop'] = (ref) => this.#client(ref).request({ kind: 'drop', ref })

  async close(): Promise<void> {
    await Promise.all([...this.#clients.map((client) => client.close()), this.reader.close()])
  }

  #client(ref: ShapeRef): WriterClient {
    return this.#clients[ref.partition % this.#clients.length] as WriterClient
  }
}
