import { PartitionWriter } from './log-store/partition-writer.ts'
import { MapReadPathTable } from './read-path/read-path-table.ts'
import { groupSharedAppends, type Runtime, type RuntimeContext, type ShapeAppend, type Writers } from './runtime.ts'
import type { ShapeRef } from './shape-ref.ts'

/**
 * Writers on the calling thread: one PartitionWriter per partition, created on its first
 * write, publishing into a plain Map. For tests, small deployments, and the baseline that shows
 * what the worker runtime's threads buy.
 */
export function inlineRuntime(): Runtime {
  return async (context) => new InlineWriters(context)
}

class InlineWriters implements Writers {
  readonly table = new MapReadPathTable()
  readonly #context: RuntimeContext
  readonly #writers = new Map<number, PartitionWriter>()

  constructor(context: RuntimeContext) {
    this.#context = context
  }

  async append(appends: readonly ShapeAppend[]): Promise<void> {
    const groups = groupSharedAppends(appends, (ref) => ref.partition)
    await Promise.all(groups.map(({ refs, rows }) => this.#writer(refs[0] as ShapeRef).appendShared(refs, rows)))
  }

  setPgSnapshot: Writers['setPgSnapshot'] = (ref, pgSnapshot) => this.#writer(ref).setPgSnapshot(ref, pgSnapshot)
  markSnapshotStarted: Writers['markSnapshotStarted'] = (ref) => this.#writer(ref).markSnapshotStarted(ref)
  startSnapshot: Writers['startSnapshot'] = async (ref) => this.#writer(ref).startSnapshot(ref)
  writeSnapshotPart: Writers['writeSnapshotPart'] = (ref, write) => this.#writer(ref).writeSnapshotPart(ref, write)
  hibernate: Writers['hibernate'] = (ref) => this.#writer(ref).hibernate(ref)
  drop: Writers['drop'] = (ref) => this.#writer(ref).drop(ref.shapeId)

  async close(): Promise<void> {
    await Promise.all([...this.#writers.values()].map((writer) => writer.close()))
    this.#writers.clear()
  }

  #writer(ref: ShapeRef): PartitionWriter {
    let writer = this.#writers.get(ref.partition)
    if (writer === undefined) {
      writer = new PartitionWriter(this.#context.stores.get(ref.partition), {
        chunkBytesThreshold: this.#context.chunkBytesThreshold,
        publish: (handle, keys) => {
          this.table.publish(handle, keys)
          this.#context.onPublished(handle)
        },
      })
      this.#writers.set(ref.partition, writer)
    }
    return writer
  }
}
