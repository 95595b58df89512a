import { type LogJsonRequest, LogOffset, PartitionStores, readLogJson } from '@shapestore/engine'
import { move } from 'piscina'
import { type SerializedError, serializeError } from './protocol.ts'

/**
 * The reader pool's task, run in piscina threads (loaded through reader-task-bootstrap.mjs):
 * reads a committed range of a shape's log as one ready-to-send JSON array and hands the
 * buffer back by transfer (Piscina.move), not by copy.
 *
 * Writes nothing to LMDB. Owns, per thread, the partition stores it opened (one PartitionStores
 * per data directory, opened on first use, at most READER_DIRS_MAX directories). The main side
 * is reader-pool.ts; the request and result types below are the whole protocol between them.
 */

/** What the main thread sends for one read (the engine's LogJsonRequest: offsets travel as strings). */
export type ReadLogJsonRequest = LogJsonRequest

/**
 * A failed read. Returned, not thrown: piscina structured-clones a thrown error, which keeps
 * its message but loses its class and its `code` (measured: an EngineError arrives as a plain
 * Error with name 'Error' and no code).
 */
export interface ReadLogJsonFailure {
  readonly error: SerializedError
}

/** Data directories whose stores a reader thread keeps open; the least recently opened is closed beyond. */
export const READER_DIRS_MAX = 4

const storesByDir = new Map<string, PartitionStores>()

// Run once per thread by ReaderPool.start() (warm-up-barrier.ts): by then this module, lmdb's
// addon included, is loaded (compiled, or the shim's waits for tsx).
export { warmUp } from './warm-up-barrier.ts'

export default async function readLogJsonTask(request: ReadLogJsonRequest): Promise<unknown> {
  try {
    const store = (await storesFor(request.dir, request.partitionMapBytes)).get(request.partition)
    try {
      // readLogJson renews this thread's read transaction before it reads, so it sees every
      // commit made (on any thread) before the request was sent.
      const json = readLogJson(
        store,
        request.shapeId,
        LogOffset.parse(request.since),
        LogOffset.parse(request.upTo),
        request.lastSnapshotChunk,
      )
      return move(json)
    } finally {
      // Release the snapshot now: an idle reader must not pin pages the writer could reuse
      // (lmdb-js would reset it on a timer, which never fires while piscina waits with atomics).
      store.env.resetReadTxn()
    }
  } catch (error) {
    const failure: ReadLogJsonFailure = { error: serializeError(error) }
    return failure
  }
}

async function storesFor(dir: string, partitionMapBytes: number): Promise<PartitionStores> {
  const open = storesByDir.get(dir)
  if (open !== undefined) return open
  if (storesByDir.size >= READER_DIRS_MAX) {
    const [oldestDir, oldest] = storesByDir.entries().next().value as [string, PartitionStores]
    storesByDir.delete(oldestDir)
    // Safe: a reader thread runs one task at a time, and no read transaction outlives a task.
    await oldest.close()
  }
  const stores = new PartitionStores(dir, { mapSizeBytes: partitionMapBytes })
  storesByDir.set(dir, stores)
  return stores
}
