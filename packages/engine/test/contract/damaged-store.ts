// Reads and writes that meet damage fail alone, and leave what is sound as it was:
// - a read that meets a damaged page: LMDB invalidates the read transaction that met it (every
//   later read in it fails with MDB_BAD_TXN), so a later read of another shape of the partition,
//   sound and in another tree, must start a fresh one (it answered STORAGE_CORRUPT naming that
//   sound shape);
// - an append to several shapes of a partition, one of them with damaged metadata: it fails and
//   writes nothing (it wrote the parts queued before it met the damaged shape, after rejecting:
//   on the worker runtime those parts' bytes could go back to the main thread for reuse before
//   their commit).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { open } from 'lmdb'
import { EngineError, ErrorCode, openEngine } from '../../src/index.ts'
import { collect, tempDir, txItems } from '../helpers.ts'
import { breakLowestBranchPages, storeOfBigRecords } from '../support/page-damage.ts'
import type { ContractTarget } from './suite.ts'

export function damagedStoreSuite(target: ContractTarget): void {
  describe(`damaged store (${target.name} runtime)`, () => {
    test('after a read met a damaged page, a read of a sound shape of the same partition answers', async () => {
      const { dir, cleanup } = tempDir('damaged-pages-')
      try {
        const damagedShape = await storeOfBigRecords(dir, 600)
        const setup = await openEngine({ dir, partitions: 1 })
        const { handle: sound } = await setup.getOrCreateShape({ table: 'other' })
        await setup.makeNewSnapshot(sound, [])
        await setup.appendToLog(sound, txItems(7, 1))
        await setup.close()
        assert.ok(breakLowestBranchPages(join(dir, 'partitions', '0', 'data.mdb')) > 0, 'the log tree has branches')

        const engine = await openEngine({ dir, partitions: 1, runtime: target.runtime() })
        try {
          await assert.rejects(engine.getLogJson(damagedShape, '-1'), (error: unknown) => {
            assert.ok(error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT, String(error))
            return true
          })
          // Its metadata is in the partition's meta tree, which is sound: a read-path miss.
          assert.equal(engine.fetchLatestOffset(sound).toString(), '7_0')
        } finally {
          await engine.close()
        }
      } finally {
        cleanup()
      }
    })

    test('an append to shapes of a partition, one with damaged metadata, fails and writes nothing', async () => {
      const { dir, cleanup } = tempDir('damaged-meta-')
      try {
        const setup = await openEngine({ dir, partitions: 1 })
        const sound = (await setup.getOrCreateShape({ table: 'items', where: 'sound' })).handle
        const damaged = (await setup.getOrCreateShape({ table: 'items', where: 'damaged' })).handle
        for (const handle of [sound, damaged]) {
          await setup.makeNewSnapshot(handle, [])
          await setup.appendToLog(handle, txItems(1, 2))
        }
        await setup.close()
        // The last byte of the second shape's metadata flipped: its seal no longer matches.
        const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
        const meta = env.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
        const value = Buffer.from(meta.getBinary(2) as Buffer)
        value[value.length - 1] = (value[value.length - 1] as number) ^ 0xff
        await meta.put(2, value)
        await env.close()

        const engine = await openEngine({ dir, partitions: 1, runtime: target.runtime() })
        try {
          // Two transactions for one partition (each shape its own items): the sound shape's first.
          const fanout = [
            { handle: sound, items: txItems(2, 3, 'a') },
            { handle: damaged, items: txItems(2, 3, 'b') },
          ]
          await assert.rejects(engine.appendToLogs(fanout), (error: unknown) => {
            assert.ok(error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT, String(error))
            return true
          })
          assert.equal(engine.fetchLatestOffset(sound).toString(), '1_2', 'nothing of the failed call was written')
          await engine.appendToLog(sound, txItems(3, 1))
          const rows = await collect(engine.getLogStream(sound, '-1'))
          assert.equal(rows.length, 3, 'the sound shape reads back its two transactions')
        } finally {
          await engine.close()
        }
      } finally {
        cleanup()
      }
    })
  })
}
