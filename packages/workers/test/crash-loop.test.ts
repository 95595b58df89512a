/**
 * The crash loop (test/crash/loop.ts) in CI: a few rounds of a child process running the
 * engine on the worker runtime under mixed load (appends, fanouts, snapshots, hibernations,
 * removals, readers), SIGKILLed at a seeded random instant, then reopened and checked against
 * what it acknowledged. The long run is `pnpm test:crash --rounds N` (see docs/reliability.md).
 *
 * The second test shows the checker is not blind: it plants violations in the record of a real
 * run (an acknowledged transaction that was never written, a removal acknowledged for a shape
 * that is still there, records a removal left behind, a lost transaction in the store) and
 * expects each to be caught.
 *
 * Replay: CRASH_SEED=<seed printed in the diagnostics>; CRASH_ROUNDS=<n> for more rounds.
 */
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { ShapeHandle } from '@shapestore/engine'
import { catalogPlaces } from '@shapestore/engine/crash-kit'
import { open } from 'lmdb'
import { checkStore } from './crash/check.ts'
import { runCrashLoop } from './crash/loop.ts'

const seedOf = () =>
  process.env.CRASH_SEED === undefined ? (Math.random() * 2 ** 31) >>> 0 : Number(process.env.CRASH_SEED)

test('crash loop: SIGKILL under mixed load on the worker runtime, reopen, check', { timeout: 120_000 }, async (t) => {
  const seed = seedOf()
  const rounds = Number(process.env.CRASH_ROUNDS ?? 4)
  t.diagnostic(`seed ${seed}, ${rounds} rounds (replay: CRASH_SEED=${seed})`)
  const result = await runCrashLoop({ rounds, seed, log: (line) => t.diagnostic(line) })
  t.diagnostic(`${result.seconds.toFixed(1)} s: ${JSON.stringify(result.totals)}`)
  // The load really ran: something was acknowledged and checked.
  assert.ok(result.totals.acks > 0, 'no append was acknowledged in any round')
})

test('the crash checker catches what it claims to catch', { timeout: 120_000 }, async (t) => {
  const seed = seedOf()
  t.diagnostic(`seed ${seed}`)
  const root = mkdtempSync(join(tmpdir(), 'shapestore-crash-check-'))
  const dir = join(root, 'data')
  try {
    const { record } = await runCrashLoop({
      rounds: 1,
      seed,
      dir,
      killDelayMs: { min: 500, max: 500 },
      killFromReadyShare: 0,
    })
    const withTxs = [...record.byHandle.values()].find((r) => r.found.size > 0 && !r.removeIssued)
    assert.ok(withTxs !== undefined, 'the round left no shape with transactions')
    const handle = withTxs.handle as ShapeHandle

    // An acknowledged transaction that is not in the store.
    const never = record.maxSentTx + 1000
    withTxs.acked.add(never)
    await assert.rejects(
      checkStore(dir, seed, record, 'planted ack'),
      new RegExp(`acknowledged tx ${never} is missing`),
    )
    withTxs.acked.delete(never)

    // A shape whose removal was acknowledged, still in the store.
    withTxs.removeAcked = true
    await assert.rejects(checkStore(dir, seed, record, 'planted removal'), /came back after its removal/)
    withTxs.removeAcked = false

    // A removal that left its shape's records behind: a metadata record of a shape id no
    // shape has, in a copy of the store.
    const leftover = `${dir}-leftover`
    cpSync(dir, leftover, { recursive: true })
    const partitionEnv = open({ path: join(leftover, 'partitions', '0'), maxDbs: 8 })
    const meta = partitionEnv.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    await meta.put(999_999, Buffer.from('left behind'))
    await partitionEnv.close()
    await assert.rejects(
      checkStore(leftover, seed, record, 'planted leftover'),
      /partition 0 holds records of shape id 999999, which no shape of the catalog has/,
    )

    // The store loses a transaction: delete the shape's last log record behind the engine's back.
    await checkStore(dir, seed, record, 'clean')
    const env = open({ path: join(dir, 'partitions', String(await partitionOf(dir, handle))), maxDbs: 8 })
    const log = env.openDB<Buffer, Buffer>({ name: 'log', encoding: 'binary', keyEncoding: 'binary' })
    const shapeId = await shapeIdOf(dir, handle)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(shapeId)
    const [lastKey] = log.getKeys({ start: Buffer.concat([prefix, Buffer.alloc(16, 0xff)]), reverse: true, limit: 1 })
    assert.ok(lastKey !== undefined && Buffer.compare(lastKey.subarray(0, 4), prefix) === 0)
    await log.remove(lastKey)
    await env.close()
    // Caught by the checker, or by the engine itself: its last transaction's record is gone, so
    // the log ends early, which a read reports as damage.
    await assert.rejects(
      checkStore(dir, seed, record, 'lost tx'),
      /acknowledged tx \d+ is missing|found by an earlier check, is gone|the log ends at \d+_\d+, before/,
    )
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

async function catalogEntry(dir: string, handle: ShapeHandle): Promise<{ partition: number; shapeId: number }> {
  const place = (await catalogPlaces(dir, [handle])).get(handle)
  assert.ok(place !== undefined, `no catalog place for ${handle}`)
  return place
}

const partitionOf = async (dir: string, handle: ShapeHandle) => (await catalogEntry(dir, handle)).partition
const shapeIdOf = async (dir: string, handle: ShapeHandle) => (await catalogEntry(dir, handle)).shapeId
