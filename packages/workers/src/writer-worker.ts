// The thread side of a writer: owns the partitions assigned to it (partition % writers ==
// writerIndex), runs one PartitionWriter per partition, and answers the main thread's batched
// operations. After every commit it publishes the touched shapes' keys into the shared table,
// before the results are sent: when an append resolves on the main thread, its offset is
// already readable there. A 'published' message then wakes the main thread's waiters.
import { parentPort, workerData } from 'node:worker_threads'
import {
  groupSharedAppends,
  PartitionStores,
  PartitionWriter,
  type PartitionWriter as PartitionWriterType,
  type ShapeRef,
} from '@shapestore/engine'
import {
  type FromWriter,
  type OpRequest,
  type OpResult,
  serializeError,
  type ToWriter,
  type WriterInit,
  type WriterOp,
} from './protocol.ts'
import { SharedReadPathTable } from './shared-table/shared-table.ts'

const init = workerData as WriterInit
const port = parentPort
if (port === null) throw new Error('writer-worker.ts runs as a worker thread')

const stores = new PartitionStores(init.dir, { mapSizeBytes: init.partitionMapBytes })
const table = SharedReadPathTable.fromShared(init.table)
const writers = new Map<number, PartitionWriterType>()
let published: string[] = []
let results: OpResult[] = []
let flushScheduled = false

function send(message: FromWriter): void {
  port?.postMessage(message)
}

/** One message per kind per microtask burst: a commit's keys, then its results. */
function scheduleFlush(): void {
  if (flushScheduled) return
  flushScheduled = true
  queueMicrotask(() => {
    flushScheduled = false
    if (published.length > 0) send({ type: 'published', handles: published })
    if (results.length > 0) send({ type: 'results', results })
    published = []
    results = []
  })
}

function writerFor(ref: ShapeRef): PartitionWriterType {
  let writer = writers.get(ref.partition)
  if (writer === undefined) {
    writer = new PartitionWriter(stores.get(ref.partition), {
      chunkBytesThreshold: init.chunkBytesThreshold,
      // Counted before the keys are published: a reader that sees the keys renews its LMDB view.
      onCommit: () => Atomics.add(init.commitCounters, ref.partition, 1),
      publish: (handle, keys) => {
        try {
          table.publish(handle, keys)
        } catch {
          // The commit is durable; only its keys could not be published (a full table). The
          // main thread's read then misses, reads LMDB and meets TABLE_FULL itself.
        }
        published.push(handle)
        scheduleFlush()
      },
    })
    writers.set(ref.partition, writer)
  }
  return writer
}

async function run(op: WriterOp): Promise<void> {
  switch (op.kind) {
    case 'append':
      await Promise.all(
        groupSharedAppends(
          op.refs.map((ref) => ({ ref, rows: op.rows })),
          (ref) => ref.partition,
        ).map(({ refs, rows }) => writerFor(refs[0] as ShapeRef).appendShared(refs, rows)),
      )
      return
    case 'setPgSnapshot':
      return writerFor(op.ref).setPgSnapshot(op.ref, op.pgSnapshot)
    case 'markSnapshotStarted':
      return writerFor(op.ref).markSnapshotStarted(op.ref)
    case 'startSnapshot':
      return writerFor(op.ref).startSnapshot(op.ref)
    case 'writeSnapshotPart':
      return writerFor(op.ref).writeSnapshotPart(op.ref, op.write)
    case 'hibernate':
      return writerFor(op.ref).hibernate(op.ref)
    case 'drop':
      return writerFor(op.ref).drop(op.ref.shapeId)
    case 'close':
      await Promise.all([...writers.values()].map((writer) => writer.close()))
      writers.clear()
      await stores.close()
      return
  }
}

port.on('message', (message: ToWriter) => {
  for (const { id, op } of message.requests as OpRequest[]) {
    run(op)
      .then(
        () => results.push({ id }),
        (error: unknown) => results.push({ id, error: serializeError(error) }),
      )
      .finally(scheduleFlush)
  }
})

for (const ref of init.republish) {
  // The predecessor may have died between a commit and counting it: count one, so readers renew.
  Atomics.add(init.commitCounters, ref.partition, 1)
  writerFor(ref).republish(ref)
}
send({ type: 'ready' })
