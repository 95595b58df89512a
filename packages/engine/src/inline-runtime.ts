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
    const writers = new PartitionWriters(context.stores, {
      chunkBytesThreshold: context.chunkBytesThreshold,
      publish: (handle, keys) => {
        table.publish(handle, keys)
        context.onPublished(handle)
      },
    })
    const inline: Writers = {
      ...writerOpsVia((kind, args) => writers.run(kind, args)),
      table,
      close: () => writers.close(),
    }
    return inline
  }
}
