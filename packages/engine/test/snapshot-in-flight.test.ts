// Proves the bound on encoded snapshot bytes in flight: ByteBudget's waits are first come,
// first served and a request bigger than the whole budget still goes (alone); chunkSnapshot
// takes a part's bytes before encoding it and hands them back when its write settles, failed
// writes included (else a few failed snapshots would stall every later one).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ByteBudget } from '../src/byte-budget.ts'
import { chunkSnapshot } from '../src/log-store/snapshot-chunker.ts'
import { snapshotPartBytes } from '../src/log-store/snapshot-part.ts'

/** Whether `promise` has settled by the end of the current microtask queue's next turn. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => {
      done = true
    },
    () => {
      done = true
    },
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

test('acquire waits while the budget is spent, and waiters go first come, first served', async () => {
  const budget = new ByteBudget(100)
  await budget.acquire(60)
  const big = budget.acquire(50)
  const small = budget.acquire(10)
  assert.equal(await settled(big), false, '60 + 50 is over 100')
  assert.equal(await settled(small), false, 'a later small request does not pass a waiting one')
  budget.release(60)
  assert.equal(await settled(big), true)
  assert.equal(await settled(small), true, 'both fit once the 60 are back')
})

test('a request bigger than the whole budget goes once nothing else is held', async () => {
  const budget = new ByteBudget(100)
  await budget.acquire(1)
  const huge = budget.acquire(500)
  assert.equal(await settled(huge), false)
  budget.release(1)
  assert.equal(await settled(huge), true)
  const next = budget.acquire(1)
  assert.equal(await settled(next), false, 'the huge request holds the budget until released')
  budget.release(500)
  assert.equal(await settled(next), true)
})

test('chunkSnapshot holds a part only while its write is in flight, failed writes included', async () => {
  const rows = ['{"a":1}', '{"b":2}']
  const partBytes = snapshotPartBytes(rows.length, 14)
  const budget = new ByteBudget(partBytes)
  let writing: (() => void) | null = null
  const first = chunkSnapshot(
    rows,
    1 << 20,
    budget,
    Buffer.allocUnsafe,
    () =>
      new Promise<void>((resolve) => {
        writing = resolve
      }),
  )
  await new Promise((resolve) => setImmediate(resolve))
  assert.notEqual(writing, null, 'the part was encoded and handed to write')
  const second = budget.acquire(partBytes)
  assert.equal(await settled(second), false, 'the first snapshot holds the whole budget while it writes')
  ;(writing as unknown as () => void)()
  assert.equal(await first, 0)
  assert.equal(await settled(second), true)
  budget.release(partBytes)

  await assert.rejects(
    chunkSnapshot(rows, 1 << 20, budget, Buffer.allocUnsafe, () => Promise.reject(new Error('disk gone'))),
    /disk gone/,
  )
  assert.equal(await settled(budget.acquire(partBytes)), true, 'a failed write gave its bytes back')
})
