// Proves a read notices stored data that is not there: the shape's keys say what is committed
// (its last transaction, its complete snapshot), so a log that ends before the last transaction,
// or a snapshot chunk without its last part, is STORAGE_CORRUPT naming the file and the shape,
// streamed and as JSON, never a shorter answer. (A damaged page can make LMDB's scan skip
// records; here they are deleted behind the engine's back.)
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { EngineError, ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

/** Deletes the last key of `db` in partition 0 that starts with the shape id `shapeId`. */
async function deleteLast(dir: string, db: string, shapeId: number): Promise<void> {
  const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
  try {
    const store = env.openDB<Buffer, Buffer>({ name: db, encoding: 'binary', keyEncoding: 'binary' })
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(shapeId)
    const keys = [
      ...store.getKeys({
        start: prefix,
        end: Buffer.from([...prefix, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      }),
    ]
    const last = keys.at(-1)
    assert.ok(last !== undefined, `no ${db} key of shape ${shapeId}`)
    await store.remove(last)
  } finally {
    await env.close()
  }
}

for (const [what, db] of [
  ['the log record of the last transaction', 'log'],
  ['the last part of the last snapshot chunk', 'snapshot'],
] as const) {
  test(`${what} deleted: every read of the shape is STORAGE_CORRUPT`, async () => {
    const { dir, cleanup } = tempDir()
    try {
      const engine = await openEngine({ dir, partitions: 1, chunkBytesThreshold: 200 })
      const { handle } = await engine.getOrCreateShape({ table: 'items' })
      await engine.makeNewSnapshot(
        handle,
        Array.from({ length: 20 }, (_, i) => JSON.stringify({ row: i })),
      )
      for (let t = 1; t <= 5; t++) await engine.appendToLog(handle, txItems(t, 3))
      await engine.close()
      await deleteLast(dir, db, 1)
      // The checker finds it too (it used to call such a shape sound).
      const partition = verifyStore(dir).find(({ file }) => file.endsWith(join('partitions', '0', 'data.mdb')))
      const found =
        db === 'log'
          ? 'shape 1: the log ends at 4_4, its last transaction at 5_4'
          : 'shape 1: \\d+ of its \\d+ snapshot chunks end with their last part'
      assert.match(partition?.problem ?? '', new RegExp(`1 shapes' logs or snapshots are cut short .*${found}`))

      const reopened = await openEngine({ dir, partitions: 1, chunkBytesThreshold: 200 })
      try {
        const since = db === 'log' ? '0_inf' : '-1'
        for (const [kind, read] of [
          ['stream', () => collect(reopened.getLogStream(handle, since))],
          ['json', () => reopened.getLogJson(handle, since)],
        ] as const) {
          await assert.rejects(read(), (error: unknown) => {
            assert.ok(error instanceof EngineError, `${kind}: ${String(error)}`)
            assert.equal(error.code, ErrorCode.STORAGE_CORRUPT, `${kind}: ${error.message}`)
            assert.match(error.message, /partitions\/0\/data\.mdb: the data of shape 1 is damaged/)
            return true
          })
        }
      } finally {
        await reopened.close()
      }
    } finally {
      cleanup()
    }
  })
}
