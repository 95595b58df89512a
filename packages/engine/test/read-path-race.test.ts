// Proves the read path's insert-if-absent rule at the seam where it matters: a reader that read
// LMDB before the writer published never overwrites the published keys. (The same rules under
// real interleavings, on every runtime, are in the contract suite's "races".)
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Catalog } from '../src/catalog/catalog.ts'
import {
  encodeTransaction,
  MapReadPathTable,
  PartitionStores,
  PartitionWriter,
  type ReadPathTable,
} from '../src/index.ts'
import { LogOffset } from '../src/log-offset.ts'
import { ReadPath } from '../src/read-path/read-path.ts'
import { canonicalShape } from '../src/shape.ts'
import { appendOf, tempDir, txItems } from './helpers.ts'

test('a fill that read LMDB before a writer published does not overwrite the published keys', async () => {
  const { dir, cleanup } = tempDir()
  const catalog = Catalog.open(dir, { partitions: 1, mapSizeBytes: 1024 ** 3 })
  const stores = new PartitionStores(dir, { mapSizeBytes: 1024 ** 3 })
  try {
    const { handle } = await catalog.getOrCreate(canonicalShape({ table: 'items' }))
    const entry = catalog.entry(handle)!
    const ref = { handle, partition: entry.partition, shapeId: entry.shapeId }
    const table = new MapReadPathTable()
    const writer = new PartitionWriter(stores.get(0), {
      chunkBytesThreshold: 1024,
      publish: (h, keys) => table.publish(h, keys),
    })
    await writer.append(appendOf(txItems(1, 1), [ref]))
    table.delete(handle) // as after a restart: nothing cached, LMDB says 1_0

    // The race: the reader has read LMDB (1_0); before it inserts, the writer's commit of 2_0
    // lands and publishes. The commit is asynchronous and the read synchronous, so the hook
    // publishes what the writer is about to (its keys at 2_0), then the writer's own publish follows.
    const pending = writer.append(appendOf(txItems(2, 1), [ref]))
    const racingTable: ReadPathTable = {
      get: (h) => table.get(h),
      publish: (h, keys) => table.publish(h, keys),
      delete: (h) => table.delete(h),
      insertIfAbsent(h, keys) {
        assert.equal(keys.latestOffset.toString(), '1_0', 'the reader read the old value')
        table.publish(h, { ...keys, latestOffset: LogOffset.of(2, 0), lastPersistedOffset: LogOffset.of(2, 0) })
        return table.insertIfAbsent(h, keys)
      },
    }
    const seen = new ReadPath(racingTable, catalog, stores).keys(handle)
    assert.equal(seen.latestOffset.toString(), '2_0', "the reader returns the writer's value")
    await pending
    assert.equal(table.get(handle)?.latestOffset.toString(), '2_0', "the table keeps the writer's value")
  } finally {
    await stores.close()
    await catalog.close()
    cleanup()
  }
})
