import type { ShapeHandle } from './handle.ts'
import type { EncodableRow } from './log-store/log-record.ts'
import type { CommitCounters } from './log-store/partition-store.ts'
import type { PartitionStores } from './log-store/partition-stores.ts'
import type { SnapshotPartWrite } from './log-store/partition-writer.ts'
import type { PgSnapshot } from './pg-snapshot.ts'
import type { ReadPathTable } from './read-path/read-path-table.ts'
import type { ShapeRef } from './shape-ref.ts'

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

/** One source transaction's rows for one shape. */
export interface ShapeAppend {
  readonly ref: ShapeRef
  readonly rows: readonly EncodableRow[]
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

export interface Writers {
  /** The read-path-key table the writers publish into and the main thread reads. */
  readonly table: ReadPathTable
  /** Where big log reads run; absent: every read runs inline. */
  readonly reader?: LogJsonReader | undefined
  /** Commits per partition, counted by writers on other threads; absent: writers on this thread. */
  readonly commitCounters?: CommitCounters | undefined
  /**
   * Resolves when every shape's part is durable (each shape's part commits atomically). Appends
   * that share one `rows` array carry the same transaction: store it once per partition.
   */
  append(appends: readonly ShapeAppend[]): Promise<void>
  setPgSnapshot(ref: ShapeRef, pgSnapshot: PgSnapshot): Promise<void>
  markSnapshotStarted(ref: ShapeRef): Promise<void>
  startSnapshot(ref: ShapeRef): Promise<void>
  writeSnapshotPart(ref: ShapeRef, write: SnapshotPartWrite): Promise<void>
  hibernate(ref: ShapeRef): Promise<void>
  /** Deletes the shape's data (log, snapshot, metadata) from its partition. */
  drop(ref: ShapeRef): Promise<void>
  /** Commits what is pending and stops; nothing keeps the process alive afterwards. */
  close(): Promise<void>
}

/** Groups appends by their `rows` array (one transaction going to many shapes), keyed by `key(ref)`. */
export function groupSharedAppends<K>(
  appends: readonly ShapeAppend[],
  key: (ref: ShapeRef) => K,
): Array<{ readonly key: K; readonly refs: ShapeRef[]; readonly rows: ShapeAppend['rows'] }> {
  const groups = new Map<K, Map<ShapeAppend['rows'], ShapeRef[]>>()
  for (const { ref, rows } of appends) {
    const k = key(ref)
    let byRows = groups.get(k)
    if (byRows === undefined) {
      byRows = new Map()
      groups.set(k, byRows)
    }
    const refs = byRows.get(rows)
    if (refs === undefined) byRows.set(rows, [ref])
    else refs.push(ref)
  }
  return [...groups].flatMap(([k, byRows]) => [...byRows].map(([rows, refs]) => ({ key: k, refs, rows })))
}

/** What `openEngine({ runtime })` takes: starts the writers for one engine. */
export type Runtime = (context: RuntimeContext) => Promise<Writers>
