// Proves the catalog tells a lookup lost to damage from an absent one: LMDB's search through a
// damaged leaf answers "not found" as a sound one does, and an absent answer would make
// getOrCreateShape mint a second handle for a shape that has one. A list shorter than the
// database's count is damage too; a list held while shapes come and go is not.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { decodeLookup } from '../src/catalog/catalog-records.ts'
import { ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { assertCode, tempDir } from './helpers.ts'

test('a lost lookup is STORAGE_CORRUPT, not an absent shape, and creates nothing', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const { handle: lost } = await engine.getOrCreateShape({ table: 'a' })
    const { handle: kept } = await engine.getOrCreateShape({ table: 'b' })
    await engine.close()

    // What a damaged page does to LMDB's search: the key is no longer found.
    const env = open({ path: join(dir, 'catalog'), maxDbs: 8 })
    const lookups = env.openDB<Buffer, string>({ name: 'lookup', encoding: 'binary', keyEncoding: 'ordered-binary' })
    const digest = [...lookups.getRange()].find(({ key, value }) => decodeLookup(key, value) === lost)?.key
    assert.ok(digest !== undefined)
    await lookups.remove(digest)
    await env.close()
    const found = verifyStore(dir).find(({ file }) => file === join(dir, 'catalog', 'data.mdb'))?.problem
    assert.match(found ?? '', new RegExp(`the lookup of shape ${lost}: missing`), 'shapestore-verify finds it')

    const reopened = await openEngine({ dir, partitions: 2 })
    try {
      await assertCode(() => reopened.fetchHandleByShape({ table: 'a' }), ErrorCode.STORAGE_CORRUPT)
      await assertCode(() => reopened.getOrCreateShape({ table: 'a' }), ErrorCode.STORAGE_CORRUPT)
      assert.deepEqual(
        [...reopened.listShapes()].map(({ handle }) => handle).sort(),
        [lost, kept].sort(),
        'no second handle',
      )
      assert.equal(reopened.fetchHandleByShape({ table: 'b' }), kept)
      // A definition with the same handle prefix but another shape, and a new one, are absent.
      const { created } = await reopened.getOrCreateShape({ table: 'c' })
      assert.ok(created)
      assert.equal(reopened.fetchHandleByShape({ table: 'a', where: 'x = 1' }), undefined)
    } finally {
      await reopened.close()
    }
  } finally {
    cleanup()
  }
})

test('a list held while shapes are created and removed reports no damage and leaves out what was removed', async () => {
  const { dir, cleanup } = tempDir()
  const engine = await openEngine({ dir, partitions: 2 })
  try {
    const handles: string[] = []
    for (let i = 0; i < 20; i++) handles.push((await engine.getOrCreateShape({ table: `t${i}` })).handle)
    const sorted = [...handles].sort()
    const removed = sorted.slice(-3) // after the cursor's position
    const listed: string[] = []
    for (const { handle } of engine.listShapes()) {
      listed.push(handle)
      if (listed.length === 5) {
        for (let i = 20; i < 30; i++) await engine.getOrCreateShape({ table: `t${i}` })
        for (const handle of removed) await engine.removeShape(handle)
      }
    }
    assert.deepEqual(
      listed.sort(),
      sorted.filter((handle) => !removed.includes(handle)),
    )
  } finally {
    await engine.close()
    cleanup()
  }
})
