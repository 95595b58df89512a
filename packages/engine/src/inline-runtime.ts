import type { CommitCounters } from './log-store/partition-store.ts'
import { PartitionWriters } from './partition-writers.ts'
import { MapReadPathTable } from './read-path/read-path-table.ts'
import type { Runtime, Writers } from './runtime.ts'
import { writerOpsVia } from './write-ops.ts'

/**
 * Writers on the calling thread: the partitions' writers run here and publish into a plain
 * Map. For tests, small deployments, and the baseline that shows what the worker runtime's
 * threads buy.
 */
export function inlineRuntime(): Runtime {
  return async (context) => {
    const table = new MapReadPathTable()
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
