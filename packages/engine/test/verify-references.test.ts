/**
 * What `pnpm verify` (verifyStore) finds beyond damaged pages and values: damage that open or a
 * read refuses, which the checker used to call sound. A partition the catalog places shapes in
 * that is gone (open refuses the directory), and a log entry referring to a shared record that
 * is gone (its read is STORAGE_CORRUPT). Each is made behind the engine's back in a closed
 * directory; each check fails on the checker before.
 */
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { SHARED_RECORD_SHAPES_MIN } from '../src/limits.ts'
import { assertCode, tempDir, txItems } from './helpers.ts'

test('a partition the catalog places shapes in, gone: verify names it missing, as open refuses it', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.appendToLog(handle, txItems(1, 2))
    await engine.close()
    rmSync(join(dir, 'partitions', '0'), { recursive: true })
    const partition = verifyStore(dir).find(({ file }) => file === join(dir, 'partitions', '0', 'data.mdb'))
    assert.equal(partition?.problem, 'it is missing')
    await assertCode(() => openEngine({ dir, partitions: 1 }), ErrorCode.STORAGE_CORRUPT)
  } finally {
    cleanup()
  }
})

test('a log entry whose shared record is gone: verify finds it, as the read does', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    // Enough shapes for the partition to store the rows once, as a shared record.
    const handles: string[] = []
    for (let i = 0; i < SHARED_RECORD_SHAPES_MIN; i++)
      handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
    const items = txItems(1, 2)
    await engine.appendToLogs(handles.map((handle) => ({ handle, items })))
    const a = handles[0] as string
    await engine.close()
    assert.deepEqual(
      verifyStore(dir).map(({ problem }) => problem),
      [undefined, undefined],
      'sound before',
    )
    const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
    const txs = env.openDB<Buffer, Buffer>({ name: 'txs', encoding: 'binary', keyEncoding: 'binary' })
    const keys = [...txs.getKeys({})]
    assert.equal(keys.length, 1, 'the fanout stored one shared record')
    for (const key of keys) await txs.remove(key)
    await env.close()
    const problem = verifyStore(dir).find(({ file }) => file === join(dir, 'partitions', '0', 'data.mdb'))?.problem
    assert.match(problem ?? '', /a log reference points to no shared record/)
    const reopened = await openEngine({ dir, partitions: 1 })
    try {
      await assertCode(() => reopened.getLogJson(a, '0_inf'), ErrorCode.STORAGE_CORRUPT)
    } finally {
      await reopened.close()
    }
  } finally {
    cleanup()
  }
})
