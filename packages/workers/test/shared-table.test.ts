// Proves the shared read-path-key table keeps ReadPathTable's contract over shared memory: exact
// round trips (offsets above 2^32, 0_inf, -1, null chunk, pg snapshots that fit, a miss for those
// that do not), fills never overwrite publishes, deleted and reused slots are detected by views
// holding old slot numbers, capacity without failure, and one regression test per sharedmap guard.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Worker } from 'node:worker_threads'
import { EngineError, ErrorCode, LogOffset, type ReadPathKeys } from '@shapestore/engine'
import { Directory, directoryKey } from '../src/shared-table/directory.ts'
import {
  DIRECTORY_KEY_CHARS_MAX,
  DIRECTORY_KEY_SIZE,
  DIRECTORY_VALUE_CHARS_MAX,
  DIRECTORY_VALUE_SIZE,
  XIP_INLINE_MAX,
} from '../src/shared-table/layout.ts'
import { SharedReadPathTable, TABLE_CAPACITY_DEFAULT, TABLE_CAPACITY_MAX } from '../src/shared-table/shared-table.ts'
import type { SlotRef } from '../src/shared-table/slots.ts'
import { startWorker } from '../src/thread-entry.ts'
import {
  BLOCKED_DONE,
  BLOCKED_GO,
  CONTROL_GO,
  CONTROL_READER_STALLED,
  CONTROL_WORDS,
  insertAll,
  winnerOf,
} from './fixtures/shared-table-contend.ts'
import { handleOf } from './fixtures/shared-table-values.ts'

/** Another thread's view of the same table: a structured clone of the descriptor, as postMessage makes. */
function otherView(table: SharedReadPathTable): SharedReadPathTable {
  return SharedReadPathTable.fromShared(structuredClone(table.toShared()))
}

function keys(partial: Partial<ReadPathKeys> = {}): ReadPathKeys {
  return {
    latestOffset: LogOffset.of(7, 3),
    lastPersistedOffset: LogOffset.of(7, 3),
    pgSnapshot: { xmin: 100, xmax: 105, xipList: [101, 103], filterTxns: true },
    snapshotStarted: true,
    lastSnapshotChunk: 2,
    ...partial,
  }
}

function isCode(code: ErrorCode) {
  return (error: unknown) => EngineError.isCode(error, code)
}

const H1 = handleOf(1)
const H2 = handleOf(2)
const H3 = handleOf(3)

test('every field round-trips exactly: offsets above 2^32, 0_inf, tx_inf, -1, null chunk, a full inline pg snapshot', () => {
  const table = new SharedReadPathTable({ capacity: 8 })
  const cases: ReadPathKeys[] = [
    keys({
      latestOffset: LogOffset.of(Number.MAX_SAFE_INTEGER, 2 ** 32 + 1),
      lastPersistedOffset: LogOffset.of(2 ** 32, 2 ** 32 - 1),
      pgSnapshot: {
        xmin: 2 ** 32 + 5,
        xmax: Number.MAX_SAFE_INTEGER,
        xipList: [0, 1, 2 ** 31, 2 ** 32, 2 ** 33 + 7, 2 ** 52, Number.MAX_SAFE_INTEGER].slice(0, XIP_INLINE_MAX),
        filterTxns: false,
      },
      lastSnapshotChunk: 2 ** 40 + 3,
    }),
    keys({
      latestOffset: LogOffset.LAST_BEFORE_REAL,
      lastPersistedOffset: LogOffset.BEFORE_ALL,
      pgSnapshot: null,
      snapshotStarted: false,
      lastSnapshotChunk: null,
    }),
    keys({
      latestOffset: LogOffset.of(2 ** 33, Number.POSITIVE_INFINITY),
      lastPersistedOffset: LogOffset.FIRST,
      pgSnapshot: { xmin: 0, xmax: 0, xipList: [], filterTxns: true },
      lastSnapshotChunk: 0,
    }),
  ]
  assert.equal(cases[0]!.pgSnapshot!.xipList.length, XIP_INLINE_MAX)
  const other = otherView(table)
  cases.forEach((expected, i) => {
    table.publish(handleOf(10 + i), expected)
    table.insertIfAbsent(handleOf(20 + i), expected, table.fillToken())
    for (const handle of [handleOf(10 + i), handleOf(20 + i)]) {
      // Decoded from shared memory by a view that never saw the object.
      const got = other.get(handle)
      assert.deepStrictEqual(got, expected)
      assert.equal(String(got!.latestOffset), String(expected.latestOffset))
      assert.equal(String(got!.lastPersistedOffset), String(expected.lastPersistedOffset))
      // A repeated hit on an unchanged slot is the very same object: no allocation.
      assert.equal(other.get(handle), got)
    }
  })
})

test('a pg snapshot that does not fit is a miss, never a wrong snapshot; insertIfAbsent then returns the keys given', () => {
  const table = new SharedReadPathTable({ capacity: 8 })
  const other = otherView(table)
  const tooManyXips = keys({
    pgSnapshot: {
      xmin: 1,
      xmax: 20,
      xipList: Array.from({ length: XIP_INLINE_MAX + 1 }, (_, i) => i + 2),
      filterTxns: true,
    },
  })
  const notExact = keys({ pgSnapshot: { xmin: 2 ** 60, xmax: 2 ** 60, xipList: [], filterTxns: true } })

  table.publish(H1, tooManyXips)
  assert.equal(table.get(H1), undefined)
  assert.equal(other.get(H1), undefined)
  const fromLmdb = keys({ ...tooManyXips, latestOffset: LogOffset.of(7, 3) })
  assert.equal(
    other.insertIfAbsent(H1, fromLmdb, other.fillToken()),
    fromLmdb,
    'the caller read LMDB: its keys are the answer',
  )
  assert.equal(other.get(H1), undefined, 'the writer-owned overflow marker stays')

  assert.equal(table.insertIfAbsent(H2, notExact, table.fillToken()), notExact)
  assert.equal(other.get(H2), undefined)

  // The writer's next publish that fits replaces the marker.
  const fits = keys()
  table.publish(H1, fits)
  assert.deepStrictEqual(other.get(H1), fits)
})

test('insertIfAbsent never overwrites a publish, from the same view or another', () => {
  const table = new SharedReadPathTable({ capacity: 8 })
  const other = otherView(table)
  const published = keys({ latestOffset: LogOffset.of(9, 1), lastPersistedOffset: LogOffset.of(9, 1) })
  const stale = keys({ latestOffset: LogOffset.of(5, 0), lastPersistedOffset: LogOffset.of(5, 0) })

  table.publish(H1, published)
  assert.deepStrictEqual(other.insertIfAbsent(H1, stale, other.fillToken()), published)
  assert.deepStrictEqual(table.insertIfAbsent(H1, stale, table.fillToken()), published)
  assert.deepStrictEqual(other.get(H1), published)
  assert.deepStrictEqual(otherView(table).get(H1), published)
})

test('a publish overwrites a fill', () => {
  const table = new SharedReadPathTable({ capacity: 8 })
  const other = otherView(table)
  const filled = keys({ latestOffset: LogOffset.of(5, 0), lastPersistedOffset: LogOffset.of(5, 0) })
  const published = keys({ latestOffset: LogOffset.of(9, 1), lastPersistedOffset: LogOffset.of(8, 4) })

  assert.equal(table.insertIfAbsent(H1, filled, table.fillToken()), filled)
  assert.deepStrictEqual(other.get(H1), filled)
  other.publish(H1, published)
  assert.deepStrictEqual(table.get(H1), published)
  assert.deepStrictEqual(other.get(H1), published)
  assert.deepStrictEqual(table.insertIfAbsent(H1, filled, table.fillToken()), published)
})

test('delete frees the slot: a view holding the old slot number misses, also once the slot is reused', () => {
  const table = new SharedReadPathTable({ capacity: 2 })
  const reader = otherView(table)
  const writer = otherView(table)
  const k1 = keys({ latestOffset: LogOffset.of(11, 0), lastPersistedOffset: LogOffset.of(11, 0) })
  const k2 = keys({ latestOffset: LogOffset.of(22, 0), lastPersistedOffset: LogOffset.of(22, 0) })
  const k3 = keys({ latestOffset: LogOffset.of(33, 0), lastPersistedOffset: LogOffset.of(33, 0) })

  table.publish(H1, k1)
  assert.deepStrictEqual(reader.get(H1), k1) // reader and writer now cache H1's slot number
  writer.publish(H1, k1)
  table.delete(H1)
  assert.equal(table.size, 0)
  assert.equal(reader.get(H1), undefined)

  // The freed slot is handed out first: H2 takes H1's old slot.
  table.publish(H2, k2)
  assert.equal(reader.get(H1), undefined, 'a reused slot is not mistaken for the old handle')
  assert.deepStrictEqual(reader.get(H2), k2)

  // A writer with the old slot number cached does not write into H2's slot.
  writer.publish(H1, k3)
  assert.deepStrictEqual(reader.get(H2), k2)
  assert.deepStrictEqual(reader.get(H1), k3)
  assert.equal(table.size, 2)

  // Deleting what is not there is a no-op, from any view.
  reader.delete(H1)
  reader.delete(H1)
  table.delete(H3)
  assert.equal(table.get(H1), undefined)
  assert.deepStrictEqual(table.get(H2), k2)
  assert.equal(table.size, 1)
})

test('at capacity nothing fails: a new handle is served uncached, its publish is dropped and counted; a delete makes room', {
  timeout: 10_000,
}, () => {
  const table = new SharedReadPathTable({ capacity: 3 })
  const other = otherView(table)
  for (let i = 0; i < 3; i++) table.publish(handleOf(i), keys())
  const newer = keys({ latestOffset: LogOffset.of(8, 0) })
  // A fill with no room answers with the caller's keys (they came from LMDB) and stores nothing.
  assert.deepStrictEqual(other.insertIfAbsent(handleOf(3), newer, other.fillToken()), newer)
  assert.equal(other.get(handleOf(3)), undefined)
  assert.equal(table.droppedPublishes, 0)
  table.publish(handleOf(3), newer)
  assert.equal(table.droppedPublishes, 1)
  assert.equal(other.droppedPublishes, 1, 'counted in shared memory')
  assert.equal(other.get(handleOf(3)), undefined)
  assert.equal(table.size, 3)
  // Entries already there keep working at capacity (an overwrite in a full sharedmap would hang).
  other.publish(handleOf(0), newer)
  assert.deepStrictEqual(table.get(handleOf(0)), newer)
  assert.deepStrictEqual(other.insertIfAbsent(handleOf(1), newer, other.fillToken()), keys())
  table.delete(handleOf(2))
  other.publish(handleOf(3), newer)
  assert.deepStrictEqual(table.get(handleOf(3)), newer)
  assert.equal(table.size, 3)
})

test('a fill whose token moved stores nothing: a publish dropped for lack of room may be newer than what it read', () => {
  const table = new SharedReadPathTable({ capacity: 2 })
  const writer = otherView(table)
  table.publish(handleOf(0), keys())
  table.publish(handleOf(1), keys())
  // The race, step by step: a miss on handle 2 takes its token and reads LMDB (2_0) ...
  const token = table.fillToken()
  const read = keys({ latestOffset: LogOffset.of(2, 0) })
  // ... the writer commits 3_0 and finds no room to publish it ...
  writer.publish(handleOf(2), keys({ latestOffset: LogOffset.of(3, 0) }))
  // ... a removal frees a slot ...
  writer.delete(handleOf(0))
  // ... and the miss comes back with its older keys: they answer this read, and are not stored.
  assert.deepStrictEqual(table.insertIfAbsent(handleOf(2), read, token), read)
  assert.equal(table.get(handleOf(2)), undefined, 'nothing stored: the next read asks LMDB, which has 3_0')
  // A miss that read LMDB after the drop stores its keys.
  const fresh = keys({ latestOffset: LogOffset.of(3, 0) })
  assert.deepStrictEqual(table.insertIfAbsent(handleOf(2), fresh, table.fillToken()), fresh)
  assert.deepStrictEqual(writer.get(handleOf(2)), fresh)
})

test('options and descriptors are validated', () => {
  for (const capacity of [0, -1, 1.5, Number.NaN, TABLE_CAPACITY_MAX + 1, '10']) {
    assert.throws(
      () => new SharedReadPathTable({ capacity: capacity as number }),
      isCode(ErrorCode.INVALID_OPTION),
      String(capacity),
    )
  }
  assert.equal(new SharedReadPathTable().capacity, TABLE_CAPACITY_DEFAULT)
  const table = new SharedReadPathTable({ capacity: 4 })
  const { slots, directory } = table.toShared()
  for (const bad of [
    null,
    {},
    { slots: new SharedArrayBuffer(64), directory },
    { slots, directory: {} },
    { slots, directory: new SharedReadPathTable({ capacity: 40 }).toShared().directory },
  ]) {
    assert.throws(
      () => SharedReadPathTable.fromShared(bad as never),
      isCode(ErrorCode.INVALID_OPTION),
      JSON.stringify(bad),
    )
  }
  assert.throws(() => table.get('not-a-handle'), isCode(ErrorCode.INVALID_HANDLE))
  assert.throws(() => table.publish(`1-${'9'.repeat(30)}`, keys()), isCode(ErrorCode.INVALID_HANDLE))
})

// ------------------------------------------------------------------ one test per sharedmap guard

test("guard: a structured clone loses sharedmap's prototype; fromShared restores it", () => {
  const table = new SharedReadPathTable({ capacity: 4 })
  table.publish(H1, keys())
  const cloned = structuredClone(table.toShared())
  assert.equal(typeof (cloned.directory as { get?: unknown }).get, 'undefined')
  assert.deepStrictEqual(SharedReadPathTable.fromShared(cloned).get(H1), keys())
})

test("guard: keys and values at their longest lengths are strictly under sharedmap's sizes and never corrupt a neighbour", () => {
  const capacity = 2000
  const directory = Directory.create(capacity)
  // 31-char handles, the longest valid ones, with values of the longest form (a 4-char slot
  // number and a 7-char generation): with sizes equal to these lengths, sharedmap loses most keys.
  const handle = (i: number) => `${1_000_000_000 + i}-${10_000_000_000_000_000_000 + i * 4096}`
  const ref = (i: number): SlotRef => ({ slot: 1_048_575 - i, generation: -1 - i })
  assert.equal(handle(0).length, 31)
  for (let i = 0; i < capacity; i++) {
    assert.equal(directory.insertIfAbsent(handle(i), () => ref(i))?.inserted, true)
  }
  let lost = 0
  for (let i = 0; i < capacity; i++) {
    const got = directory.lookup(handle(i))
    if (got?.slot !== ref(i).slot || got.generation !== ref(i).generation) lost++
  }
  assert.equal(lost, 0)
  assert.equal(directory.length, capacity)
  assert.equal(directoryKey(handle(0)).length, DIRECTORY_KEY_CHARS_MAX)
  assert.ok(DIRECTORY_KEY_CHARS_MAX < DIRECTORY_KEY_SIZE && DIRECTORY_VALUE_CHARS_MAX < DIRECTORY_VALUE_SIZE)
})

test('guard: the directory is at most 90% full at capacity, and insert-if-absent of a present key never writes', {
  timeout: 10_000,
}, () => {
  const capacity = 100
  const directory = Directory.create(capacity)
  const map = directory.shared
  for (let i = 0; i < capacity; i++) directory.insertIfAbsent(handleOf(i), () => ({ slot: i, generation: 0 }))
  let full = 0
  assert.equal(
    directory.insertIfAbsent(
      handleOf(capacity),
      () => assert.fail('reserve called at capacity'),
      () => full++,
    ),
    undefined,
  )
  assert.equal(full, 1, 'whenFull ran')
  assert.ok(map.length <= 0.9 * map.size, `${map.length} of ${map.size}`)
  const sets = map.stats.set
  for (let i = 0; i < capacity; i++) {
    const { ref, inserted } = directory.insertIfAbsent(handleOf(i), () =>
      assert.fail('reserve called for a present key'),
    )!
    assert.equal(inserted, false)
    assert.equal(ref.slot, i)
  }
  assert.equal(map.stats.set, sets, 'no set on a present key: an overwrite is what hangs a full sharedmap')
})

test('guard: delete of a missing key is a no-op, never a sharedmap delete', () => {
  const table = new SharedReadPathTable({ capacity: 4 })
  const directory = Directory.create(4)
  const deletes = directory.shared.stats.delete
  assert.equal(
    directory.remove(H1, () => assert.fail('release called for a missing key')),
    undefined,
  )
  assert.equal(directory.shared.stats.delete, deletes)
  table.delete(H1)
  table.publish(H1, keys())
  const other = otherView(table)
  other.delete(H1)
  table.delete(H1)
  other.delete(H1)
  assert.equal(table.size, 0)
})

test('guard: similar short handles still get high-entropy directory keys', () => {
  // sharedmap's hash is weak (& 0xff per char, a 14-bit shift): raw keys `1-0`, `1-1` ... pile
  // into few buckets, about 2.7 collisions per insert at 45% load; real handles get about 0.4.
  const directory = Directory.create(5000)
  const count = 2500
  for (let i = 0; i < count; i++) directory.insertIfAbsent(`1-${i}`, () => ({ slot: i, generation: 0 }))
  const perInsert = directory.shared.stats.collisions / count
  assert.ok(perInsert < 1, `collisions per insert: ${perInsert}`)
})

test('guard: insert-if-absent holds the exclusive lock: a plain reader on another thread waits until it is released', async () => {
  // sharedmap's lockWrite lets plain gets run during a set (they can see a half-written value);
  // lockExclusive keeps them out. The reader is told to go from inside the locked section, and
  // must not get through before the insert returns.
  const capacity = 8
  const directory = Directory.create(capacity)
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  const words = new Int32Array(control)
  directory.insertIfAbsent(H1, () => ({ slot: 0, generation: 0 }))
  const worker = startWorker(new URL('./fixtures/shared-table-blocked-reader.ts', import.meta.url), {
    workerData: { map: directory.shared, capacity, control, handle: H1 },
  })
  try {
    const finished = new Promise<void>((resolve, reject) => {
      worker.on('error', reject)
      worker.on('message', (m) => m === 'done' && resolve())
    })
    await new Promise<void>((resolve, reject) => {
      worker.on('error', reject)
      worker.on('message', (m) => m === 'ready' && resolve())
    })
    let doneWhileLocked = 0
    directory.insertIfAbsent(H2, () => {
      Atomics.store(words, BLOCKED_GO, 1)
      // Long enough for an unblocked reader to finish many times over; a blocked one cannot.
      Atomics.wait(words, BLOCKED_DONE, 0, 200)
      doneWhileLocked = Atomics.load(words, BLOCKED_DONE)
      return { slot: 1, generation: 0 }
    })
    assert.equal(doneWhileLocked, 0, 'a plain get ran inside the insert-if-absent')
    await finished
    assert.equal(Atomics.load(words, BLOCKED_DONE), 1)
  } finally {
    await worker.terminate()
  }
})

test('guard: set-if-absent under contention (3 threads insert, 1 reads) gives every thread the same, whole entry', async (t) => {
  // main, worker 1 and worker 2 insert-if-absent the same fresh handles; worker 3 reads each one
  // as soon as it appears. Without the exclusive lock, inserters disagree on the winner (or leak
  // slots); under sharedmap's lockWrite, the reader can see an entry whose value is half written.
  const inserters = 3
  const count = 5000
  const table = new SharedReadPathTable({ capacity: count })
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
  const seen = new SharedArrayBuffer((inserters + 1) * count * Int32Array.BYTES_PER_ELEMENT)
  const workers: Worker[] = []
  const done: Promise<void>[] = []
  for (let participant = 1; participant <= inserters; participant++) {
    const role = participant < inserters ? 'insert' : 'read'
    const worker = startWorker(new URL('./fixtures/shared-table-contender.ts', import.meta.url), {
      workerData: { descriptor: table.toShared(), control, seen, participant, count, role },
    })
    workers.push(worker)
    let ready!: () => void
    const isReady = new Promise<void>((resolve) => {
      ready = resolve
    })
    done.push(
      new Promise<void>((resolve, reject) => {
        worker.on('error', reject)
        worker.on('message', (m) => (m === 'ready' ? ready() : resolve()))
      }),
    )
    await Promise.race([isReady, done.at(-1)])
  }
  try {
    const words = new Int32Array(control)
    Atomics.store(words, CONTROL_GO, 1)
    insertAll(table, words, new Int32Array(seen), 0, count)
    await Promise.all(done)
    assert.equal(Atomics.load(words, CONTROL_READER_STALLED), 0, 'the reader found every handle')
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
  const answers = new Int32Array(seen)
  const wins = new Array<number>(inserters).fill(0)
  let disagreements = 0
  for (let i = 0; i < count; i++) {
    const final = winnerOf(table.get(handleOf(i)), i)
    assert.ok(final >= 0, `handle ${i} holds a whole proposal`)
    wins[final]!++
    for (let p = 0; p <= inserters; p++) if (answers[p * count + i] !== final) disagreements++
  }
  t.diagnostic(`winners (main, worker 1, worker 2): ${wins.join(', ')}`)
  assert.equal(disagreements, 0)
  assert.equal(table.size, count)
})
