// Proves that the inline runtime's reads renew LMDB's view only after a commit (its writers
// count commits, PartitionStore#renew): a burst of misses leaves no lmdb-js timer behind per
// read (each renew schedules one, 120 B of heap until the event loop turns), and a read after a
// commit still sees it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { openEngine } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

const SHAPES = 500

const pendingTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

test('a burst of misses renews the LMDB view once, and a read after a commit sees it', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const handles: string[] = []
    const seeded = await openEngine({ dir, partitions: 1 })
    for (let i = 0; i < SHAPES; i++) {
      const { handle } = await seeded.getOrCreateShape({ table: 'items', where: `i = ${i}` })
      await seeded.appendToLog(handle, txItems(1, 1))
      handles.push(handle)
    }
    await seeded.close()

    const engine = await openEngine({ dir, partitions: 1 })
    try {
      const before = pendingTimers()
      // One synchronous stretch: every read is a miss that reads the shape's metadata.
      for (const handle of handles) assert.equal(engine.fetchLatestOffset(handle).toString(), '1_0')
      assert.ok(pendingTimers() - before <= 1, `${pendingTimers() - before} timers pending after ${SHAPES} misses`)

      const first = handles[0] as string
      await engine.appendToLog(first, txItems(2, 1))
      const rows = await collect(engine.getLogStream(first, '1_0'))
      assert.equal(rows.length, 1)
      assert.match(rows[0] as string, /"tx":2/)
      assert.equal(engine.fetchLatestOffset(first).toString(), '2_0')
    } finally {
      await engine.close()
    }
  } finally {
    cleanup()
  }
})
