import type { ShapeHandle } from './handle.ts'
import type { CommitCounters } from './log-store/partition-store.ts'
import type { PartitionStores } from './log-store/partition-stores.ts'
import type { ReadPathTable } from './read-path/read-path-table.ts'
import type { WriterOps } from './write-ops.ts'

/**
 * The seam between the engine facade (main thread) and whoever runs the writers: the inline
 * runtime runs PartitionWriters on the calling thread; the worker runtime (packages/workers)
 * runs them in worker threads. The facade validates every input before it calls a runtime, and
 * resolves handles to ShapeRefs, so a runtime only routes and commits.
 */
export interface RuntimeContext {
  readonly dir: string
  readonly partitions: number
  readonly chunkBytesThreshold: number
  readonly partitionMapBytes: number
  /** The main thread's partition stores (the inline runtime writes through them). */
  readonly stores: PartitionStores
  /** The runtime calls this on the main thread after the keys of `handle` were published (wakes waiters). */
  readonly onPublished: (handle: ShapeHandle) => void
}

/** A read of a committed log range as one JSON array, for a reader off the main thread. */
export interface LogJsonRequest {
  readonly dir: string
  /** The engine's partitionMapBytes: the first open of an environment in a process fixes its options. */
  readonly partitionMapBytes: number
  readonly partition: number
  readonly shapeId: number
  readonly since: string
  readonly upTo: string
  readonly lastSnapshotChunk: number | null
}

/** Reads big log ranges off the main thread (the worker runtime's reader pool). */
export interface LogJsonReader {
  /** Threads are up: a read will not wait for one to start. */
  readonly ready: boolean
  /** Another read would be refused: read inline instead. */
  readonly saturated: boolean
  start(): Promise<void>
  readLogJson(request: LogJsonRequest): Promise<Buffer>
}

/**
 * The writers of one engine: the operations of write-ops.ts (each resolves when it is
 * durable; an append's part for each shape commits atomically), plus what the read path needs
 * from them.
 */
export interface Writers extends WriterOps {
  /** The read-path-key table the writers publish into and the main thread reads. */
  readonly table: ReadPathTable
  /** Where big log reads run; absent: every read runs inline. */
  readonly reader?: LogJsonReader | undefined
  /** Commits per partition, counted by the writers after each commit; absent: every read renews. */
  readonly commitCounters?: CommitCounters | undefined
  /**
   * Memory for `bytes` bytes of an operation bound for `partition`, for the facade to encode
   * into (the worker runtime hands out its next message's transfer buffers, so the bytes are
   * written once and never copied); absent: a fresh Buffer.
   */
  readonly bytesFor?: ((partition: number, bytes: number) => Buffer) | undefined
  /** Commits what is pending and stops; nothing keeps the process alive afterwards. */
  close(): Promise<void>
}

/** What `openEngine({ runtime })` takes: starts the writers for one engine. */
export type Runtime = (context: RuntimeContext) => Promise<Writers>
