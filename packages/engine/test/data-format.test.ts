// Proves the directory's data format is checked before anything is written: a new directory is
// format 3; a format 2 one (sealed values, metadata written as msgpack records) opens, reads back
// and is marked 3, so an engine of format 2 refuses it afterwards (it would read the maps written
// since as Map objects); other formats are CONFIG_MISMATCH with the directory left as it was.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { ErrorCode, openEngine } from '../src/index.ts'
import { MSGPACK_MAP_VALUES } from '../src/msgpack-values.ts'
import { assertCode, collect, tempDir, txItems } from './helpers.ts'

/** The directory's recorded layout, read as the engine reads it. */
async function layoutOf(dir: string): Promise<unknown> {
  const env = open({ path: join(dir, 'catalog'), maxDbs: 8, readOnly: true })
  try {
    return env.openDB({ name: 'config', ...MSGPACK_MAP_VALUES, keyEncoding: 'ordered-binary' }).get('layout')
  } finally {
    await env.close()
  }
}

/** Records `version` as the directory's format, encoded as format 2 engines wrote it (msgpack records). */
async function markFormat(dir: string, version: number): Promise<void> {
  const env = open({ path: join(dir, 'catalog'), maxDbs: 8 })
  try {
    await env.openDB({ name: 'config', encoding: 'msgpack', keyEncoding: 'ordered-binary' }).put('layout', {
      version,
      partitions: 2,
    })
  } finally {
    await env.close()
  }
}

test('a new directory is format 3; format 2 opens, reads and is marked 3; others are refused untouched', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    await engine.appendToLog(handle, txItems(1, 3))
    await engine.close()
    assert.deepEqual(await layoutOf(dir), { version: 3, partitions: 2 })

    await markFormat(dir, 2)
    const upgraded = await openEngine({ dir, partitions: 2 })
    assert.equal((await collect(upgraded.getLogStream(handle, '-1'))).length, 3)
    await upgraded.close()
    assert.deepEqual(await layoutOf(dir), { version: 3, partitions: 2 })

    for (const version of [1, 4]) {
      await markFormat(dir, version)
      await assertCode(() => openEngine({ dir, partitions: 2 }), ErrorCode.CONFIG_MISMATCH)
      assert.deepEqual(await layoutOf(dir), { version, partitions: 2 }, `format ${version} left as it was`)
    }
  } finally {
    cleanup()
  }
})
