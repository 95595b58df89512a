// Proves the shared-record layout: one transaction sent to many shapes of a partition is stored
// once, every shape reads exactly its rows (also shapes that had seen part of them), and the
// stored copy lives until the last shape referring to it is removed.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeTransaction, inlineRuntime, openEngine, PartitionStores, PartitionWriter } from '../src/index.ts'
import { appendOf, collect, tempDir, txItems } from './helpers.ts'

test('a fanout is stored once, read by every shape, and freed with its last shape', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, runtime: inlineRuntime(), partitions: 1, chunkBytesThreshold: 100 })
    const handles: string[] = []
    for (let i = 0; i < 12; i++)
      handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
    // Two shapes have already seen part of transaction 5 (a replay for them).
    await engine.appendToLogs(handles.slice(0, 2).map((handle) => ({ handle, items: txItems(5, 2, 'early') })))
    const items = txItems(5, 6, 'fanout')
    await engine.appendToLogs(handles.map((handle) => ({ handle, items })))
    for (const [i, handle] of handles.entries()) {
      const rows = (await collect(engine.getLogStream(handle, '0_inf'))).map((json) => JSON.parse(json).v)
      assert.deepEqual(
        rows,
        i < 2 ? ['early', 'early', 'fanout', 'fanout', 'fanout', 'fanout'] : Array(6).fill('fanout'),
      )
      assert.equal(engine.fetchLatestOffset(handle).toString(), '5_10')
      assert.notEqual(engine.getChunkEndLogOffset(handle, '0_inf'), null, 'chunk bookkeeping runs per shape')
    }
    for (const handle of handles.slice(2, 11)) await engine.removeShape(handle)
    assert.equal((await collect(engine.getLogStream(handles[11] as string, '0_inf'))).length, 6)
    await engine.close()

    const sharedCopies = () => {
      const stores = new PartitionStores(dir, { mapSizeBytes: 1024 ** 3 })
      const count = stores.get(0).txs.getCount()
      return { count, close: () => stores.close() }
    }
    let probe = sharedCopies()
    assert.equal(probe.count, 1, 'ten shapes took every row: one shared copy')
    await probe.close()

    const reopened = await openEngine({ dir, runtime: inlineRuntime(), partitions: 1, chunkBytesThreshold: 100 })
    await reopened.removeShape(handles[11] as string)
    await reopened.close()
    probe = sharedCopies()
    assert.equal(probe.count, 0, 'the last reference freed the shared copy')
    await probe.close()
  } finally {
    cleanup()
  }
})

test('a shared record commits together with every reference to it', async () => {
  const { dir, cleanup } = tempDir()
  const stores = new PartitionStores(dir, { mapSizeBytes: 1024 ** 3 })
  try {
    const store = stores.get(0)
    let commits = 0
    // A commit of this size goes to the write thread: as an instruction batch (puts only) or a
    // transaction callback.
    const batch = store.env.batch.bind(store.env)
    store.env.batch = ((action: () => void) => {
      commits++
      return batch(action)
    }) as typeof store.env.batch
    const transaction = store.env.transaction.bind(store.env)
    store.env.transaction = ((action: () => unknown) => {
      commits++
      return transaction(action)
    }) as typeof store.env.transaction
    const writer = new PartitionWriter(store, { chunkBytesThreshold: 10 * 1024 * 1024, publish: () => {} })
    // 400 shapes x 50 rows would be 20,000 items if every reference counted its rows: over the
    // 5,000-item commit size, the references would spill into later commits than the record.
    const refs = Array.from({ length: 400 }, (_, i) => ({ handle: `1-${i}`, partition: 0, shapeId: i + 1 }))
    await writer.append(appendOf(txItems(7, 50), refs))
    assert.equal(commits, 1)
    assert.equal(store.txs.getCount(), 1)
    await writer.close()
  } finally {
    await stores.close()
    cleanup()
  }
})

test('one transaction given to shapes of several partitions, one to three each: every shape reads its rows intact', async () => {
  // Each stored copy carries its own shape's chain and seal: a record written in place for one
  // shape and then again for another would read as damage (STORAGE_CORRUPT) for the first.
  for (const rows of [6, 300]) {
    const { dir, cleanup } = tempDir()
    try {
      const engine = await openEngine({ dir, runtime: inlineRuntime(), partitions: 3 })
      const handles: string[] = []
      for (let i = 0; i < 6; i++)
        handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
      const items = txItems(3, rows, 'fanout')
      for (const group of [handles.slice(0, 3), handles]) {
        await engine.appendToLogs(group.map((handle) => ({ handle, items })))
      }
      for (const handle of handles) {
        const read = (await collect(engine.getLogStream(handle, '0_inf'))).map((json) => JSON.parse(json).v)
        assert.deepEqual(read, Array(rows).fill('fanout'), `${rows} rows, shape ${handle}`)
      }
      await engine.close()
    } finally {
      cleanup()
    }
  }
})
