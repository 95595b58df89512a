// The thread side of a writer: owns the partitions assigned to it (partition % writers ==
// writerIndex), runs their writers (the engine's PartitionWriters, as the inline runtime does)
// and answers the main thread's batched operations. After every commit it publishes the
// touched shapes' keys into the shared table, in the slots the main thread sent with the
// operations, before it answers: when an append resolves on the main thread, its offset is
// already readable there. One `done` message per commit carries the published handles (the
// main thread wakes their waiters), those that had no slot, and the results. This thread never
// touches the table's directory (a sharedmap whose locks have no timeout): if it dies, it can
// leave at most a slot locked, which the main thread unlocks (SharedReadPathTable.releaseAbandoned).
import { parentPort, workerData } from 'node:worker_threads'
import { mapBytes, PartitionStores, PartitionWriters, refsOf } from '@shapestore/engine'
import {
  type FailedOp,
  type FromWriter,
  NO_SLOT,
  type OpRequest,
  serializeError,
  type ToWriter,
  type WriterInit,
} from './protocol.ts'
import { SlotPublisher } from './shared-table/slot-publisher.ts'

const init = workerData as WriterInit
const port = parentPort
if (port === null) throw new Error('writer-worker.ts runs as a worker thread')

const stores = new PartitionStores(init.dir, { mapSizeBytes: init.partitionMapBytes })
const table = new SlotPublisher(init.slots)
const writers = new PartitionWriters(stores, {
  chunkBytesThreshold: init.chunkBytesThreshold,
  // Counted before the keys are published: a reader that sees the keys renews its LMDB view.
  onCommit: (partition) => Atomics.add(init.commitCounters, partition, 1),
  publish: (handle, keys) => {
    if (!table.publish(handle, keys)) unpublished.push(handle)
    published.push(handle)
    scheduleAnswer()
  },
})

let published: string[] = []
let unpublished: string[] = []
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
    const message: FromWriter = { type: 'done', published, unpublished, succeeded, failed, frames }
    const transfer = frames
    published = []
    unpublished = []
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
  for (const { args } of message.requests) {
    mapBytes(args, (bytes) => {
      buffers.add(bytes.buffer as ArrayBuffer)
      return bytes
    })
  }
  let unsettled = message.requests.length
  const settled = () => {
    if (--unsettled === 0) frames.push(...buffers)
    scheduleAnswer()
  }
  for (const request of message.requests) assignSlots(request)
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

/** Remembers the slots the main thread sent with an operation; a dropped shape has none. */
function assignSlots({ kind, args, slots }: OpRequest): void {
  refsOf(args).forEach((ref, i) => {
    const slot = slots[2 * i] ?? NO_SLOT
    if (kind === 'drop' || slot === NO_SLOT) table.forget(ref.handle)
    else table.assign(ref.handle, { slot, generation: slots[2 * i + 1] ?? 0 })
  })
}

for (const { ref, slot } of init.republish) {
  if (slot !== null) table.assign(ref.handle, slot)
  // The predecessor may have died between a commit and counting it: count one, so readers renew.
  Atomics.add(init.commitCounters, ref.partition, 1)
  try {
    writers.republish(ref)
  } catch {
    // Its keys cannot be read (damaged metadata): reported unpublished, so the main thread drops
    // what it holds and its reads ask LMDB (STORAGE_CORRUPT). Thrown here, the error killed
    // every new writer before it read a message: its partitions refused every write for good.
    table.forget(ref.handle)
    unpublished.push(ref.handle)
    scheduleAnswer()
  }
}
port.postMessage({ type: 'ready' } satisfies FromWriter)
