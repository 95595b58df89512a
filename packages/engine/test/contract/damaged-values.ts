// Damage met by a read: LMDB checksums nothing, so a value garbled inside an intact page reaches
// the engine. Each trial garbles one stored value (a log record, a shared record, a reference to
// one, a snapshot part or a shape's metadata: bytes flipped, a 32-bit field rewritten, the value cut short), seeded,
// in a copy of one store, then reads every shape back in full, streamed and as one JSON array.
// A read returns exactly the shape's rows (the damage is in something it does not read) or fails
// with STORAGE_CORRUPT naming the file and the shape: never other rows, never another error; and
// `shapestore-verify` flags the damaged file whenever a read met the damage.
import assert from 'node:assert/strict'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { open } from 'lmdb'
import { type Engine, EngineError, ErrorCode, openEngine } from '../../src/index.ts'
import { verifyStore } from '../../src/integrity/verify-store.ts'
import { collect, tempDir, txItems } from '../helpers.ts'
import { prng } from '../support/crash-kit.ts'
import type { ContractTarget } from './suite.ts'

const PARTITIONS = 2
const SHAPES = 8
const TRIALS = 120

/** Shapes with a snapshot in several parts, transactions of their own and shared ones; returns every shape's rows. */
async function makeStore(dir: string): Promise<Map<string, string[]>> {
  const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 2048 })
  try {
    const handles: string[] = []
    for (let i = 0; i < SHAPES; i++) {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `i = ${i}` })
      handles.push(handle)
      await engine.makeNewSnapshot(
        handle,
        Array.from({ length: 30 }, (_, r) => JSON.stringify({ shape: i, row: r, pad: 'x'.repeat(40) })),
      )
      await engine.appendToLog(handle, txItems(1, 6, `own${i}`))
    }
    // One items array to all shapes: from 4 shapes of a partition on it is one shared record.
    await engine.appendToLogs(handles.map((handle) => ({ handle, items: txItems(2, 6, 'shared') })))
    return new Map(
      await Promise.all(handles.map(async (h) => [h, await collect(engine.getLogStream(h, '-1'))] as const)),
    )
  } finally {
    await engine.close()
  }
}

/** Garbles one value of one database of one partition, chosen by `random`; returns what it did. */
function garbleOneValue(dir: string, random: () => number): string {
  const partition = Math.floor(random() * PARTITIONS)
  const env = open({ path: join(dir, 'partitions', String(partition)) })
  try {
    const name = (['log', 'snapshot', 'txs', 'meta'] as const)[Math.floor(random() * 4)] as string
    const db = env.openDB({ name, encoding: 'binary', keyEncoding: 'binary' })
    const entries = [...db.getRange({})]
    if (entries.length === 0) return `partition ${partition} ${name}: empty`
    const { key, value } = entries[Math.floor(random() * entries.length)] as { key: Buffer; value: Buffer }
    const bytes = Buffer.from(value)
    const how = Math.floor(random() * 3)
    if (how === 0) {
      for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
        const at = Math.floor(random() * bytes.length)
        bytes[at] = (bytes[at] ?? 0) ^ 0xff
      }
    } else if (how === 1 && bytes.length >= 8) {
      // A 32-bit big-endian field rewritten: row counts and lengths are such fields.
      bytes.writeUInt32BE(Math.floor(random() * 2 ** 32), Math.floor(random() * (bytes.length - 4)))
    } else {
      env.transactionSync(() => db.putSync(key, bytes.subarray(0, Math.floor(random() * bytes.length))))
      return `partition ${partition} ${name}: a value cut short`
    }
    env.transactionSync(() => db.putSync(key, bytes))
    return `partition ${partition} ${name}: ${how === 0 ? 'bytes flipped' : 'a field rewritten'}`
  } finally {
    env.close()
  }
}

/** The rows of a JSON array answer as the stream gives them; unparseable bytes (damaged JSON) as themselves. */
function jsonRows(text: string): string[] {
  try {
    return (JSON.parse(text) as unknown[]).map((row) => JSON.stringify(row))
  } catch {
    return [text]
  }
}

export function damagedValuesSuite(target: ContractTarget): void {
  describe(`damaged values (${target.name} runtime)`, () => {
    test(`${TRIALS} values garbled one at a time: every read returns rows or STORAGE_CORRUPT naming the file and shape`, {
      timeout: 180_000,
    }, async (t) => {
      const { dir, cleanup } = tempDir('damaged-values-')
      try {
        const pristine = join(dir, 'pristine')
        const expected = await makeStore(pristine)
        const tally = { reads: 0, intact: 0, corrupt: 0, wrongRows: 0, flaggedByVerify: 0 }
        for (let trial = 0; trial < TRIALS; trial++) {
          const copy = join(dir, `trial-${trial}`)
          cpSync(pristine, copy, { recursive: true })
          const what = `trial ${trial}: ${garbleOneValue(copy, prng(1000 + trial))}`
          const engine: Engine = await openEngine({ dir: copy, partitions: PARTITIONS, runtime: target.runtime() })
          const corruptBefore = tally.corrupt
          try {
            for (const [handle, rows] of expected) {
              const reads: Array<[string, () => Promise<string[]>]> = [
                ['stream', () => collect(engine.getLogStream(handle, '-1'))],
                ['json', async () => jsonRows((await engine.getLogJson(handle, '-1')).toString())],
              ]
              for (const [kind, read] of reads) {
                tally.reads++
                try {
                  const got = await read()
                  if (JSON.stringify(got) === JSON.stringify(rows)) tally.intact++
                  else tally.wrongRows++
                } catch (error) {
                  assert.ok(error instanceof EngineError, `${what}, ${kind} read of ${handle}: ${String(error)}`)
                  assert.equal(error.code, ErrorCode.STORAGE_CORRUPT, `${what}, ${kind} read: ${error.message}`)
                  assert.match(error.message, /partitions\/\d\/data\.mdb: the data of shape \d+ is damaged/, what)
                  tally.corrupt++
                }
              }
            }
          } finally {
            await engine.close()
          }
          // What a read met, `shapestore-verify` finds too, naming the file.
          const flagged = verifyStore(copy).filter(({ problem }) => problem !== undefined)
          if (flagged.length > 0) tally.flaggedByVerify++
          if (tally.corrupt > corruptBefore) {
            assert.equal(flagged.length, 1, `${what}: verify flagged ${flagged.length} files`)
            assert.match(flagged[0]?.problem ?? '', /fail their checksum/, what)
          }
        }
        t.diagnostic(`damaged values: ${JSON.stringify(tally)}`)
        assert.equal(tally.wrongRows, 0, "a read returned rows that are not the shape's")
        assert.ok(tally.corrupt > 0, 'no read met the damage: the trials garbled nothing that is read')
      } finally {
        cleanup()
      }
    })
  })
}
