// Proves the directory's data format is checked before anything is written: a new directory is
// format 4; a format 2 one (sealed values, metadata written as msgpack records) or a format 3
// one (no place records) opens, reads back and is marked 4, so an engine of format 2 or 3
// refuses it afterwards (format 2's would read the maps written since as Map objects, format 3's
// would not remove a place record with its shape); other formats are CONFIG_MISMATCH with the
// directory left as it was. A place record that is damaged is STORAGE_CORRUPT naming the handle.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { decodeEntry, decodeLookup } from '../src/catalog/catalog-records.ts'
import { ErrorCode, openEngine, type ShapeDefinition } from '../src/index.ts'
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

test('a new directory is format 4; format 2 opens, reads and is marked 4; others are refused untouched', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    await engine.appendToLog(handle, txItems(1, 3))
    await engine.close()
    assert.deepEqual(await layoutOf(dir), { version: 4, partitions: 2 })

    await markFormat(dir, 2)
    const upgraded = await openEngine({ dir, partitions: 2 })
    assert.equal((await collect(upgraded.getLogStream(handle, '-1'))).length, 3)
    await upgraded.close()
    assert.deepEqual(await layoutOf(dir), { version: 4, partitions: 2 })

    for (const version of [1, 5]) {
      await markFormat(dir, version)
      await assertCode(() => openEngine({ dir, partitions: 2 }), ErrorCode.CONFIG_MISMATCH)
      assert.deepEqual(await layoutOf(dir), { version, partitions: 2 }, `format ${version} left as it was`)
    }
  } finally {
    cleanup()
  }
})

/**
 * Rewrites the catalog as format 3 wrote it: no place records, each shape's entry a msgpack map
 * and each lookup the handle as a string, unsealed.
 */
async function rewriteAsFormat3(dir: string): Promise<void> {
  const env = open({ path: join(dir, 'catalog'), maxDbs: 8 })
  try {
    const binary = (name: string) =>
      env.openDB<Buffer, string>({ name, encoding: 'binary', keyEncoding: 'ordered-binary' })
    await binary('places').clearAsync()
    const shapes = binary('shapes')
    const lookup = binary('lookup')
    const legacyShapes = env.openDB({ name: 'shapes', ...MSGPACK_MAP_VALUES, keyEncoding: 'ordered-binary' })
    const legacyLookup = env.openDB({ name: 'lookup', encoding: 'string', keyEncoding: 'ordered-binary' })
    for (const handle of [...shapes.getKeys()]) {
      await legacyShapes.put(handle, decodeEntry(handle, shapes.getBinary(handle) as Buffer))
    }
    for (const digest of [...lookup.getKeys()]) {
      await legacyLookup.put(digest, decodeLookup(digest, lookup.getBinary(digest) as Buffer))
    }
  } finally {
    await env.close()
  }
}

async function placedHandles(dir: string): Promise<string[]> {
  const env = open({ path: join(dir, 'catalog'), maxDbs: 8, readOnly: true })
  try {
    return [...env.openDB({ name: 'places', encoding: 'binary', keyEncoding: 'ordered-binary' }).getKeys()] as string[]
  } finally {
    await env.close()
  }
}

test('format 3 (no place records, unsealed entries and lookups) opens, reads, and is marked 4', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const handles: string[] = []
    for (const table of ['a', 'b', 'c']) {
      const { handle } = await engine.getOrCreateShape({ table })
      await engine.makeNewSnapshot(handle, [])
      await engine.appendToLog(handle, txItems(1, 2))
      handles.push(handle)
    }
    const latest = handles.map((handle) => engine.fetchLatestOffset(handle))
    const definitions = handles.map((handle) => engine.fetchShapeByHandle(handle))
    await engine.close()
    await rewriteAsFormat3(dir)
    await markFormat(dir, 3)

    const upgraded = await openEngine({ dir, partitions: 2 })
    // First reads after the open: misses, placed from the shapes' entries.
    assert.deepEqual(
      handles.map((handle) => upgraded.fetchLatestOffset(handle)),
      latest,
    )
    assert.deepEqual(
      handles.map((handle) => upgraded.fetchShapeByHandle(handle)),
      definitions,
    )
    assert.deepEqual(
      definitions.map((definition) => upgraded.fetchHandleByShape(definition as ShapeDefinition)),
      handles,
    )
    assert.deepEqual(
      [...upgraded.listShapes()].map(({ handle }) => handle),
      [...handles].sort(),
    )
    // A shape made now has a place record; a removed old one is gone.
    const { handle: made } = await upgraded.getOrCreateShape({ table: 'd' })
    await upgraded.appendToLog(made, txItems(5, 1))
    const madeLatest = upgraded.fetchLatestOffset(made)
    await upgraded.removeShape(handles[0] as string)
    await upgraded.close()
    assert.deepEqual(await layoutOf(dir), { version: 4, partitions: 2 })
    assert.deepEqual(await placedHandles(dir), [made])

    const reopened = await openEngine({ dir, partitions: 2 })
    assert.deepEqual(reopened.fetchLatestOffset(made), madeLatest)
    await assertCode(() => reopened.fetchLatestOffset(handles[0] as string), ErrorCode.UNKNOWN_HANDLE)
    assert.deepEqual(reopened.fetchLatestOffset(handles[1] as string), latest[1])
    await reopened.close()
  } finally {
    cleanup()
  }
})
