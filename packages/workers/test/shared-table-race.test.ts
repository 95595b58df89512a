// Proves, with real threads, that the main thread never reads a torn value while writer threads
// publish into the slots it gave them, that its fill racing a writer's publish of fresh handles
// never overwrites it, and that a writer still publishing with the slot of a deleted handle never
// writes into the handle that reuses the slot.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Worker } from 'node:worker_threads'
import { SharedReadPathTable } from '../src/shared-table/shared-table.ts'
import { startWorker } from '../src/thread-entry.ts'
import {
  CONTROL_WORDS,
  CREATED,
  DELETED_BELOW,
  FILL_AT,
  GO,
  PUBLISH_AT,
  publishedValue,
  STOP,
} from './fixtures/shared-table-race-control.ts'
import { counterKeys, counterOf, handleOf, waitAtLeast } from './fixtures/shared-table-values.ts'

const READ_MS = 1000

/** A worker running a fixture, with its first message ('ready') and its last (the result). */
interface Started {
  worker: Worker
  ready: Promise<void>
  result: Promise<unknown>
}

function start(fixture: string, workerData: unknown): Started {
  const worker = startWorker(new URL(`./fixtures/${fixture}`, import.meta.url), { workerData })
  let resolveReady!: () => void
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve
  })
  const result = new Promise<unknown>((resolve, reject) => {
    worker.on('error', reject)
    worker.on('exit', (code) => reject(new Error(`${fixture} exited (${code}) before reporting`)))
    worker.on('message', (message) => {
      if (message === 'ready') resolveReady()
      else resolve(message)
    })
  })
  // Handled here so that a worker terminated after a failed assertion adds no unhandled rejection;
  // the tests still await `result` and see its error.
  result.catch(() => undefined)
  // A worker that fails before 'ready' must fail the test, not leave it waiting.
  return { worker, ready: Promise.race([ready, result.then(() => undefined)]), result }
}

async function stopAll(started: Started[]): Promise<void> {
  await Promise.all(started.map((s) => s.worker.terminate()))
}

test('no torn read: 2 writer threads publish counters crossing 2^32 into hot slots while the main thread reads', async (t) => {
  const table = new SharedReadPathTable({ capacity: 16 })
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  // Each writer owns 4 hot handles (one writer per shape, the engine's model); handle 8 is
  // written by both, which the slot lock must also keep consistent.
  const owned = [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
  ].map((indices) => indices.map(handleOf))
  const shared = handleOf(8)
  const slotted = (handle: string) => ({ handle, slot: table.slotFor(handle) })
  const writers = owned.map((handles) =>
    start('shared-table-publisher.ts', {
      slots: table.slotsBuffer,
      control,
      handles: [...handles, shared].map(slotted),
    }),
  )
  try {
    await Promise.all(writers.map((w) => w.ready))
    const hot = [...owned.flat(), shared]
    const last = new Map<string, number>()
    const previous = new Map<string, unknown>()
    let reads = 0
    let torn = 0
    let regressions = 0
    let misses = 0
    let changes = 0
    let maxSeen = 0
    const deadline = performance.now() + READ_MS
    while (performance.now() < deadline) {
      for (const handle of hot) {
        const keys = table.get(handle)
        reads++
        if (keys === undefined) {
          misses++
          continue
        }
        if (keys !== previous.get(handle)) changes++
        previous.set(handle, keys)
        const value = counterOf(keys)
        if (value === undefined) {
          torn++
          continue
        }
        maxSeen = Math.max(maxSeen, value)
        // One writer per owned handle: its values only grow. (The shared handle interleaves two.)
        if (handle !== shared && value < (last.get(handle) ?? 0)) regressions++
        last.set(handle, value)
      }
    }
    Atomics.store(new Int32Array(control), STOP, 1)
    const reports = (await Promise.all(writers.map((w) => w.result))) as {
      publishes: number
      lastK: number
      refused: number
    }[]
    t.diagnostic(
      `${reads} reads (${changes} saw a new value, ${misses} busy misses), ${torn} torn; ` +
        `publishes per writer: ${reports.map((r) => r.publishes).join(', ')}`,
    )
    assert.equal(torn, 0)
    assert.equal(regressions, 0)
    assert.deepEqual(
      reports.map((r) => r.refused),
      [0, 0],
      'every publish landed',
    )
    assert.ok(reads > 0 && changes > hot.length, 'the reader saw the writers move')
    assert.ok(maxSeen > 2 ** 32, 'values above 2^32 were read')
    // After the writers stop, every owned handle holds its writer's last value.
    owned.forEach((handles, w) => {
      for (const handle of handles) assert.equal(counterOf(table.get(handle)!), reports[w]!.lastK * 4_294_967_297)
    })
  } finally {
    await stopAll(writers)
  }
})

test('a fill racing the writer on fresh handles never overwrites its publish; afterwards every entry is the published value', async (t) => {
  const count = 5000
  const table = new SharedReadPathTable({ capacity: count })
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  const words = new Int32Array(control)
  // The main thread gives every handle its slot first, as an operation on a new shape does.
  const refs = Array.from({ length: count }, (_, i) => table.slotFor(handleOf(i))).flatMap((ref) => [
    ref!.slot,
    ref!.generation,
  ])
  const writer = start('shared-table-fresh-publisher.ts', { slots: table.slotsBuffer, control, count, refs })
  try {
    await writer.ready
    Atomics.store(words, GO, 1)
    let fillFirst = 0
    let publishFirst = 0
    let wrong = 0
    for (let i = 0; i < count; i++) {
      // Meet the writer at handle i, then race it: its publish against this fill.
      const stale = counterKeys(i + 1)
      Atomics.store(words, FILL_AT, i + 1)
      assert.ok(waitAtLeast(words, PUBLISH_AT, i + 1, 30_000), 'the writer stalled')
      const answer = table.insertIfAbsent(handleOf(i), stale)
      if (answer === stale) fillFirst++
      else if (counterOf(answer) === publishedValue(i)) publishFirst++
      else wrong++
    }
    const { refused } = (await writer.result) as { refused: number }
    t.diagnostic(`${fillFirst} fills landed first (then overwritten), ${publishFirst} found the publish`)
    assert.equal(wrong, 0)
    assert.equal(refused, 0)
    let notPublished = 0
    for (let i = 0; i < count; i++) {
      if (counterOf(table.get(handleOf(i))!) !== publishedValue(i)) notPublished++
    }
    assert.equal(notPublished, 0)
    assert.equal(table.size, count)
  } finally {
    await stopAll([writer])
  }
})

test('a writer publishing with the slot of a deleted handle never writes into the handle that reuses it', async (t) => {
  // 64 slots, 32 live handles at a time: every slot is freed and reused thousands of times while
  // the writer keeps publishing handles with the slots they had, deleted ones included.
  const window = 32
  const handlesMax = 1 << 20
  const table = new SharedReadPathTable({ capacity: 2 * window })
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  const words = new Int32Array(control)
  const refs = new SharedArrayBuffer(2 * handlesMax * Int32Array.BYTES_PER_ELEMENT)
  const refWords = new Int32Array(refs)
  const writer = start('shared-table-stale-publisher.ts', { slots: table.slotsBuffer, control, window, refs })
  try {
    await writer.ready
    let created = 0
    let reads = 0
    let hits = 0
    let mistaken = 0
    const deadline = performance.now() + READ_MS
    while (performance.now() < deadline && created < handlesMax) {
      const handle = handleOf(created)
      table.publish(handle, counterKeys(created + 1))
      const ref = table.slotFor(handle)!
      Atomics.store(refWords, 2 * created, ref.slot)
      Atomics.store(refWords, 2 * created + 1, ref.generation)
      created++
      Atomics.store(words, CREATED, created)
      if (created > window) {
        const victim = created - window - 1
        table.delete(handleOf(victim))
        Atomics.store(words, DELETED_BELOW, victim + 1)
      }
      // Read the live window: every value must be the handle's own.
      for (let j = Math.max(0, created - window); j < created; j += 7) {
        const keys = table.get(handleOf(j))
        reads++
        if (keys === undefined) continue
        hits++
        if (counterOf(keys) !== j + 1) mistaken++
      }
    }
    Atomics.store(words, STOP, 1)
    const report = (await writer.result) as { publishes: number; landed: number; staleRefused: number }
    t.diagnostic(`${created} handles created; main: ${reads} reads, ${hits} hits; writer: ${JSON.stringify(report)}`)
    assert.equal(mistaken, 0)
    assert.ok(report.staleRefused > 0 && report.landed > 0, 'the writer published live and deleted handles')
    for (let j = Math.max(0, created - window); j < created; j++) {
      assert.equal(counterOf(table.get(handleOf(j))!), j + 1, `handle ${j}`)
    }
    assert.equal(table.size, window)
  } finally {
    await stopAll([writer])
  }
})
