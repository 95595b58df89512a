// A stream read slowly must not hold LMDB's free pages: while a read transaction is open, LMDB
// cannot reuse the pages later commits free, so the file grows under write load. The suite
// measures a partition file's growth under the same append load three times: with no reader,
// with a stream read at one row per 50 ms (a stalled client), and with a read transaction held
// open by hand, the control that shows the measurement sees pinning.
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { open } from 'lmdb'
import { openEngine } from '../../src/index.ts'
import { tempDir, txItems } from '../helpers.ts'
import type { ContractTarget } from './suite.ts'

type Reader = 'none' | 'slow stream' | 'pinned transaction'

const LOAD_MS = 3000
const SHAPES = 8

/** Bytes the partition file grew per commit under LOAD_MS of appends, with `reader` reading. */
async function growthPerCommit(target: ContractTarget, reader: Reader): Promise<number> {
  const { dir, cleanup } = tempDir('slow-reader-')
  const engine = await openEngine({ dir, partitions: 1, runtime: target.runtime() })
  const partition = join(dir, 'partitions', '0')
  let pinned: ReturnType<typeof open> | undefined
  try {
    const handles: string[] = []
    for (let i = 0; i < SHAPES; i++)
      handles.push((await engine.getOrCreateShape({ table: 'items', where: `i = ${i}` })).handle)
    const streamed = handles[0] as string
    let tx = 1
    // Enough rows in the streamed shape that the slow reader is still reading when the load ends.
    for (; tx <= 40; tx++) await engine.appendToLog(streamed, txItems(tx, 50))
    const before = statSync(join(partition, 'data.mdb')).size
    const until = Date.now() + LOAD_MS
    let transaction: { done(): void } | undefined
    if (reader === 'pinned transaction') {
      pinned = open({ path: partition })
      transaction = (pinned as unknown as { useReadTransaction(): { done(): void } }).useReadTransaction()
      pinned.getKeysCount({ transaction } as never) // the transaction is open and has read
    }
    const reading =
      reader === 'slow stream'
        ? (async () => {
            for await (const _ of engine.getLogStream(streamed, '0_inf')) {
              await sleep(50)
              if (Date.now() > until) return
            }
            assert.fail('the stream ended before the load: it did not read slowly throughout')
          })()
        : Promise.resolve()
    let commits = 0
    while (Date.now() < until) {
      await Promise.all(handles.slice(1).map((handle) => engine.appendToLog(handle, txItems(tx, 5))))
      tx++
      commits++
      await sleep(2)
    }
    await reading
    transaction?.done()
    return (statSync(join(partition, 'data.mdb')).size - before) / commits
  } finally {
    await engine.close()
    await pinned?.close()
    cleanup()
  }
}

export function slowReaderSuite(target: ContractTarget): void {
  describe(`slow readers (${target.name} runtime)`, () => {
    test('a stream read at one row per 50 ms grows the file no more than no reader; a pinned transaction does', {
      timeout: 60_000,
    }, async () => {
      const none = await growthPerCommit(target, 'none')
      const slow = await growthPerCommit(target, 'slow stream')
      const pinned = await growthPerCommit(target, 'pinned transaction')
      // Measured (4 s of load): none 14 KiB per commit, slow stream the same, pinned 6x.
      assert.ok(pinned > 2 * none, `the control did not pin: ${pinned} vs ${none} bytes per commit`)
      assert.ok(slow < 1.25 * none + 1024, `a slow stream grew the file: ${slow} vs ${none} bytes per commit`)
    })
  })
}
