// The thread side of a writer: owns the partitions assigned to it (partition % writers ==
// writerIndex), runs their writers (the engine's PartitionWriters, as the inline runtime does)
// and answers the main thread's batched operations. After every commit it publishes the
// touched shapes' keys into the shared table before it answers: when an append resolves on
// the main thread, its offset is already readable there. One `done` message per commit
// carries the published handles (the main thread wakes their waiters) and the results.
import { parentPort, workerData } from 'node:worker_threads'
import { PartitionStores, PartitionWriters } from '@shapestore/engine'
import { type FailedOp, type FromWriter, serializeError, type ToWriter, type WriterInit } from './protocol.ts'
import { SharedReadPathTable } from './shared-table/shared-table.ts'

const init = workerData as WriterInit
const port = parentPort
if (port === null) throw new Error('writer-worker.ts runs as a worker thread')

const stores = new PartitionStores(init.dir, { mapSizeBytes: init.partitionMapBytes })
const table = SharedReadPathTable.fromShared(init.table)
const writers = new PartitionWriters(stores, {
  chunkBytesThreshold: init.chunkBytesThreshold,
  // Counted before the keys are published: a reader that sees the keys renews its LMDB view.
  onCommit: (partition) => Atomics.add(init.commitCounters, partition, 1),
  publish: (handle, keys) => {
    try {
      table.publish(handle, keys)
    } catch {
      // The commit is durable; only its keys could not be published (a slot left locked by a
      // thread that died mid-write). The main thread's read then misses and reads LMDB.
    }
    published.push(handle)
    scheduleAnswer()
  },
})

let published: string[] = []
let succeeded: number[] = []
let failed: FailedOp[] = []
/** Frame buffers every operation of their message is done with: handed back for reuse. */
let frames: ArrayBuffer[] = []
let answerScheduled = false

/**
 * One answer per commit. Sent on the next turn, not in a microtask: a commit resolves its
 * operations' promises, and their continuations (which record the results) run in microtasks
 * after it, so by the next turn every result of the commit is in.
 */
function scheduleAnswer(): void {
  if (answerScheduled) return
  answerScheduled = true
  setImmediate(() => {
    answerScheduled = false
    const message: FromWriter = { type: 'done', published, succeeded, failed, frames }
    const transfer = frames
    published = []
    succeeded = []
    failed = []
    frames = []
    port?.postMessage(message, transfer)
  })
}

port.on('message', (message: ToWriter) => {
  if (message.type === 'close') {
    const { id } = message
    writers
      .close()
      .then(() => stores.close())
      .then(
        () => succeeded.push(id),
        (error: unknown) => failed.push({ id, error: serializeError(error) }),
      )
      .finally(scheduleAnswer)
    return
  }
  // The frame buffers the message's bytes arrived in; nothing refers to them once every
  // operation of the message is settled (a commit copies what it stores into LMDB).
  const buffers = new Set<ArrayBuffer>()
  for (const { args } of message.requests) if ('bytes' in args) buffers.add(args.bytes.buffer as ArrayBuffer)
  let unsettled = message.requests.length
  const settled = () => {
    if (--unsettled === 0) frames.push(...buffers)
    scheduleAnswer()
  }
  for (const { id, kind, args } of message.requests) {
    writers
      .run(kind, args)
      .then(
        () => succeeded.push(id),
        (error: unknown) => failed.push({ id, error: serializeError(error) }),
      )
      .finally(settled)
  }
})

for (const ref of init.republish) {
  // The predecessor may have died between a commit and counting it: count one, so readers renew.
  Atomics.add(init.commitCounters, ref.partition, 1)
  writers.republish(ref)
}
port.postMessage({ type: 'ready' } satisfies FromWriter)
