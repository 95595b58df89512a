// Proves the bound on the read-path keys a table keeps (the runtimes' `readPathKeys`): past it
// the entry made first goes, an entry that may not go is passed over, and reads through the
// engine stay exact while entries come and go (each one a miss served from LMDB).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  EngineError,
  ErrorCode,
  EvictionOrder,
  inlineRuntime,
  LogOffset,
  limits,
  MapReadPathTable,
  openEngine,
  type ReadPathKeys,
} from '../src/index.ts'
import { tempDir, txItems } from './helpers.ts'

const at = (tx: number): ReadPathKeys => ({
  latestOffset: LogOffset.of(tx, 0),
  lastPersistedOffset: LogOffset.of(tx, 0),
  pgSnapshot: null,
  snapshotStarted: true,
  lastSnapshotChunk: null,
})

test('a table of 3 keys lets the entry made first go; publishing a held entry again keeps its place', () => {
  const table = new MapReadPathTable(3)
  for (let i = 0; i < 4; i++) table.insertIfAbsent(`1-${i}`, at(i))
  assert.equal(table.get('1-0'), undefined)
  assert.deepEqual(
    ['1-1', '1-2', '1-3'].map((h) => table.get(h)?.latestOffset.tx),
    [1, 2, 3],
  )
  table.publish('1-1', at(11)) // held: nothing goes
  assert.equal(table.size, 3)
  table.publish('1-4', at(4)) // new: the oldest goes, 1-1 (made first, published since)
  assert.equal(table.get('1-1'), undefined)
  assert.deepEqual(
    ['1-2', '1-3', '1-4'].map((h) => table.get(h)?.latestOffset.tx),
    [2, 3, 4],
  )
  assert.equal(
    table.insertIfAbsent('1-3', at(0)).latestOffset.tx,
    3,
    'a present entry is never replaced, nor makes room',
  )
  assert.equal(table.size, 3)
})

test('the eviction order passes over entries that may not go, and finds entries made since it started', () => {
  const map = new Map<string, { pinned: boolean }>()
  for (let i = 0; i < 6; i++) map.set(`1-${i}`, { pinned: i % 2 === 0 })
  const order = new EvictionOrder(map, (value) => !value.pinned)
  const gone: string[] = []
  for (let i = 0; i < 3; i++) {
    const key = order.next() as string
    gone.push(key)
    map.delete(key)
  }
  assert.deepEqual(gone, ['1-1', '1-3', '1-5'])
  assert.equal(order.next(), undefined, 'only pinned entries are left')
  map.set('1-6', { pinned: false })
  assert.equal(order.next(), '1-6', 'an entry made since is found')
})

test('readPathKeys is checked when the runtime is made', () => {
  for (const bad of [0, -1, 4.5, Number.NaN, limits.READ_PATH_KEYS_MAX + 1, '5']) {
    assert.throws(
      () => inlineRuntime({ readPathKeys: bad as number }),
      (error: unknown) => EngineError.isCode(error, ErrorCode.INVALID_OPTION),
      String(bad),
    )
  }
  assert.throws(
    () => inlineRuntime({ readPathKey: 5 } as never),
    (error: unknown) => EngineError.isCode(error, ErrorCode.INVALID_OPTION),
  )
  assert.throws(
    () => new MapReadPathTable(0),
    (error: unknown) => EngineError.isCode(error, ErrorCode.INVALID_OPTION),
  )
})

test('with 4 keys kept for 12 shapes, every read is exact while entries come and go', async () => {
  const { dir, cleanup } = tempDir()
  const engine = await openEngine({ dir, runtime: inlineRuntime({ readPathKeys: 4 }) })
  try {
    const handles: string[] = []
    for (let i = 0; i < 12; i++)
      handles.push((await engine.getOrCreateShape({ table: 'items', where: `id = ${i}` })).handle)
    for (let tx = 1; tx <= 3; tx++) {
      await Promise.all(handles.map((handle) => engine.appendToLog(handle, txItems(tx, 1))))
      const missesBefore = engine.stats().readPathMisses
      for (let pass = 0; pass < 2; pass++) {
        for (const handle of handles) assert.equal(engine.fetchLatestOffset(handle).toString(), `${tx}_0`)
      }
      // 12 shapes through 4 entries: the second pass misses too, each miss served from LMDB.
      assert.ok(engine.stats().readPathMisses - missesBefore >= 12, 'entries went')
    }
  } finally {
    await engine.close()
    cleanup()
  }
})
