// Proves the read path's boundary rules: a reader's fill never overwrites a value the writer
// published, the writer always overwrites, and readers racing a removal never bring it back.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Catalog } from '../src/catalog/catalog.ts'
import {
  ErrorCode,
  inlineRuntime,
  type LogOffset,
  MapReadPathTable,
  openEngine,
  PartitionStores,
  PartitionWriter,
  type ReadPathTable,
  type ShapeHandle,
  validateTransaction,
} from '../src/index.ts'
import { ReadPath } from '../src/read-path/read-path.ts'
import { canonicalShape } from '../src/shape.ts'
import { assertCode, tempDir, txItems } from './helpers.ts'

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
    await writer.append(ref, validateTransaction(txItems(1, 1)))
    table.delete(handle) // as after a restart: nothing cached, LMDB says 1_0

    // The race: the reader has read LMDB (1_0); before it inserts, the writer commits 2_0 and publishes.
    const pending = writer.append(ref, validateTransaction(txItems(2, 1)))
    const racingTable: ReadPathTable = {
      get: (h) => table.get(h),
      publish: (h, keys) => table.publish(h, keys),
      delete: (h) => table.delete(h),
      insertIfAbsent(h, keys) {
        assert.equal(keys.latestOffset.toString(), '1_0', 'the reader read the old value')
        void writer.flush() // commits and publishes synchronously
        return table.insertIfAbsent(h, keys)
      },
    }
    const seen = new ReadPath(racingTable, catalog, stores).keys(handle)
    await pending
    assert.equal(seen.latestOffset.toString(), '2_0', "the reader returns the writer's value")
    assert.equal(table.get(handle)?.latestOffset.toString(), '2_0', "the table keeps the writer's value")
  } finally {
    await stores.close()
    await catalog.close()
    cleanup()
  }
})

test('readers filling while a reopened engine writes never see an offset go back, and end on the last write', async () => {
  const { dir, cleanup } = tempDir()
  try {
    let engine = await openEngine({ dir, runtime: inlineRuntime(), partitions: 2 })
    const handles = await Promise.all(
      Array.from(
        { length: 8 },
        async (_, i) => (await engine.getOrCreateShape({ table: 't', where: `k = ${i}` })).handle,
      ),
    )
    let tx = 0
    for (let round = 0; round < 40; round++) {
      await engine.close()
      engine = await openEngine({ dir, runtime: inlineRuntime(), partitions: 2 })
      const live = engine
      const lastSeen = new Map<ShapeHandle, LogOffset>()
      let reading = true
      // Readers hammer every shape on every turn of the event loop while the writes go on.
      const readers = (async () => {
        while (reading) {
          for (const handle of handles) {
            const offset = live.fetchLatestOffset(handle)
            const previous = lastSeen.get(handle)
            if (previous !== undefined) assert.ok(!offset.isBefore(previous), `went back from ${previous} to ${offset}`)
            lastSeen.set(handle, offset)
          }
          await new Promise((resolve) => setImmediate(resolve))
        }
      })()
      const writes: Promise<void>[] = []
      for (let i = 0; i < 5; i++) {
        tx++
        writes.push(live.appendToLogs(handles.map((handle) => ({ handle, items: txItems(tx, 2) }))))
        await new Promise((resolve) => setImmediate(resolve))
      }
      await Promise.all(writes)
      reading = false
      await readers
      for (const handle of handles) assert.equal(live.fetchLatestOffset(handle).toString(), `${tx}_2`)
    }
    await engine.close()
  } finally {
    cleanup()
  }
})

test('readers racing a removal never bring the shape back', async () => {
  const { dir, cleanup } = tempDir()
  const engine = await openEngine({ dir, runtime: inlineRuntime(), partitions: 2 })
  try {
    for (let round = 0; round < 60; round++) {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `round = ${round}` })
      await engine.appendToLog(handle, txItems(round + 1, 3))
      // Half the rounds start from a cold table entry (a miss fills it during the removal).
      if (round % 2 === 0) await engine.hibernate(handle)
      let removing = true
      const removal = engine.removeShape(handle).finally(() => {
        removing = false
      })
      let reads = 0
      while (removing) {
        try {
          engine.fetchLatestOffset(handle)
          engine.snapshotStarted(handle)
        } catch (error) {
          assert.equal((error as { code?: string }).code, ErrorCode.UNKNOWN_HANDLE)
        }
        reads++
        await (reads % 2 === 0 ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve)))
      }
      assert.equal(await removal, true)
      await assertCode(() => engine.fetchLatestOffset(handle), ErrorCode.UNKNOWN_HANDLE)
      await assertCode(() => engine.fetchPgSnapshot(handle), ErrorCode.UNKNOWN_HANDLE)
    }
  } finally {
    await engine.close()
    cleanup()
  }
})
