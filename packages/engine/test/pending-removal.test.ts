// Proves an unfinished removal (the process died after the catalog forgot the shape, before its
// partition data was dropped) is finished by the next open: the data goes, the record of the
// removal too, and the shapes beside it stay whole.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'
import { openEngine } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

const REMOVE_AND_DIE = fileURLToPath(new URL('./fixtures/remove-and-die.ts', import.meta.url))

/** Entries of the catalog's `removals` database and of partition 0's `log` database. */
function counts(dir: string): { removals: number; logEntries: number } {
  const count = (path: string, name: string) => {
    const env = open({ path, maxDbs: 8, readOnly: true })
    try {
      return (env.openDB({ name }).getStats() as { entryCount: number }).entryCount
    } finally {
      env.close()
    }
  }
  return { removals: count(join(dir, 'catalog'), 'removals'), logEntries: count(join(dir, 'partitions', '0'), 'log') }
}

test('a removal the process died in is finished by the next open', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    const { handle: removed } = await engine.getOrCreateShape({ table: 'removed' })
    const { handle: kept } = await engine.getOrCreateShape({ table: 'kept' })
    for (const handle of [removed, kept]) {
      await engine.makeNewSnapshot(handle, [])
      await engine.appendToLog(handle, txItems(1, 3))
    }
    await engine.close()

    const child = spawnSync(process.execPath, ['--import', 'tsx', REMOVE_AND_DIE, dir, removed], { encoding: 'utf8' })
    assert.equal(child.signal, 'SIGKILL', child.stderr)
    assert.deepEqual(counts(dir), { removals: 1, logEntries: 2 }, 'the removal recorded, its data still there')

    const reopened = await openEngine({ dir, partitions: 1 })
    try {
      assert.equal(reopened.fetchShapeByHandle(removed), undefined)
      assert.equal((await collect(reopened.getLogStream(kept, '-1'))).length, 3)
    } finally {
      await reopened.close()
    }
    assert.deepEqual(counts(dir), { removals: 0, logEntries: 1 }, 'the removal finished: its record and its data gone')
  } finally {
    cleanup()
  }
})
