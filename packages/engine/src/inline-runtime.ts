import { assertKnownOptions } from './known-options.ts'
import { READ_PATH_KEYS_DEFAULT } from './limits.ts'
import type { CommitCounters } from './log-store/partition-store.ts'
import { PartitionWriters } from './partition-writers.ts'
import { assertReadPathKeys, MapReadPathTable } from './read-path/read-path-table.ts'
import type { Runtime, Writers } from './runtime.ts'
import { writerOpsVia } from './write-ops.ts'

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['readPathKeys'])

export interface InlineRuntimeOptions {
  /**
   * Shapes whose read-path keys the main thread keeps (READ_PATH_KEYS_MIN..READ_PATH_KEYS_MAX,
   * default READ_PATH_KEYS_DEFAULT); past it the one kept first goes.
   */
  readonly readPathKeys?: number | undefined
}

/**
 * Writers on the calling thread: the partitions' writers run here and publish into a plain
 * Map. For tests, small deployments, and the baseline that shows what the worker runtime's
 * threads buy. Options are checked here, before openEngine creates anything.
 */
export function inlineRuntime(options: InlineRuntimeOptions = {}): Runtime {
  assertKnownOptions(options, KNOWN_OPTIONS, 'inlineRuntime')
  const readPathKeys = options.readPathKeys ?? READ_PATH_KEYS_DEFAULT
  assertReadPathKeys(readPathKeys)
  return async (context) => {
    const table = new MapReadPathTable(readPathKeys)
    // Reads renew their LMDB view only after a commit (PartitionStore#renew). lmdb-js resets
    // the view after each commit made on this thread anyway; without counters every read would
    // renew once more, and each renew leaves an lmdb-js timer pending (120 B of heap per miss
    // until the event loop turns).
    const commitCounters: CommitCounters = new Int32Array(context.partitions)
    const writers = new PartitionWriters(context.stores, {
      chunkBytesThreshold: context.chunkBytesThreshold,
      onCommit: (partition) => {
        commitCounters[partition] = (commitCounters[partition] as number) + 1
      },
      publish: (handle, keys) => {
        table.publish(handle, keys)
        context.onPublished(handle)
      },
    })
    const inline: Writers = {
      ...writerOpsVia((kind, args) => writers.run(kind, args)),
      table,
      commitCounters,
      close: () => writers.close(),
    }
    return inline
  }
}
