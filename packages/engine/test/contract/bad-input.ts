// Bad input, everywhere: every public call of the Engine, and openEngine's options, given the
// malformed inputs of bad-inputs.ts. Each must reject with its coded EngineError, change nothing
// a caller can observe (shapes, offsets, flags, pg snapshots, log contents, open partitions,
// waiters), and leave the engine usable: a valid write and read right after succeed. Written
// against openEngine only, so it runs unchanged on every runtime (inline here, the worker
// runtime in packages/workers).
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Engine, EngineError, type ErrorCode, type LogItem, openEngine } from '../../src/index.ts'
import { collect, tempDir } from '../helpers.ts'
import {
  BAD_DIRS,
  BAD_ENGINE_OPTIONS,
  BAD_HANDLES,
  BAD_ITEMS,
  BAD_LIST_FILTERS,
  BAD_OFFSETS,
  BAD_PG_SNAPSHOTS,
  BAD_ROW_SOURCES,
  BAD_ROWS,
  BAD_SHAPES,
  BAD_WAIT_OPTIONS,
  NOT_REAL_OFFSETS,
} from './bad-inputs.ts'
import type { ContractTarget } from './suite.ts'

interface Fixture {
  /** A complete snapshot, a pg snapshot, two transactions. */
  readonly full: string
  /** A log only: the usability probe appends here after every case. */
  readonly probe: string
  /** Marked started, snapshot never written: incomplete. */
  readonly incomplete: string
  /** Created, then removed. */
  readonly removed: string
}

/** A call given one bad argument (and a fresh transaction number, for calls that write). */
type Call = (engine: Engine, value: unknown, tx: number) => unknown

const anyArg = (value: unknown) => value as never

export function badInputSuite(target: ContractTarget): void {
  describe(`bad input (${target.name} runtime)`, () => {
    const { dir: root, cleanup } = tempDir('shapestore-bad-input-')
    const dir = join(root, 'engine')
    let engine: Engine
    let fx: Fixture
    let nextTx = 1_000
    let tried = 0

    before(async () => {
      engine = await openEngine({ dir, runtime: target.runtime(), partitions: 2, chunkBytesThreshold: 64 })
      const full = (await engine.getOrCreateShape({ table: 'items', where: 'id = 1' })).handle
      await engine.setPgSnapshot(full, { xmin: 100, xmax: 105, xipList: [101, 103], filterTxns: true })
      await engine.makeNewSnapshot(full, ['{"s":1}', '{"s":2}', `{"s":"${'x'.repeat(70)}"}`])
      await engine.appendToLog(full, logItems(10, 3))
      await engine.appendToLog(full, logItems(11, 2))
      const probe = (await engine.getOrCreateShape({ table: 'items', where: 'id = 2' })).handle
      await engine.appendToLog(probe, logItems(12, 1))
      const incomplete = (await engine.getOrCreateShape({ table: 'other' })).handle
      await engine.markSnapshotStarted(incomplete)
      const removed = (await engine.getOrCreateShape({ table: 'gone' })).handle
      await engine.removeShape(removed)
      fx = { full, probe, incomplete, removed }
    })

    after(async () => {
      await engine.close()
      cleanup()
      console.log(
        `bad input (${target.name} runtime): ${tried} cases passed (a coded error, or the documented answer for an` +
          ' unknown handle or a replay; the store unchanged; the engine usable after)',
      )
    })

    /** Everything a caller can observe of the store. */
    async function observe(): Promise<unknown> {
      const shapes = [...engine.listShapes()].sort((a, b) => (a.handle < b.handle ? -1 : 1))
      const observed = []
      for (const { handle, shape } of shapes) {
        const started = engine.snapshotStarted(handle)
        observed.push({
          handle,
          shape,
          latest: engine.fetchLatestOffset(handle).toString(),
          persisted: engine.fetchLastPersistedOffset(handle).toString(),
          pg: engine.fetchPgSnapshot(handle),
          started,
          chunkEnd: engine.getChunkEndLogOffset(handle, '0_inf')?.toString() ?? null,
          snapshot: started ? await codeOrValue(() => collect(engine.getLogStream(handle, '-1', '0_inf'))) : null,
          log: await collect(engine.getLogStream(handle, '0_inf')),
          json: (await engine.getLogJson(handle, '0_inf')).toString(),
        })
      }
      const { partitionsOpen, waiters } = engine.stats()
      return { count: engine.countShapes(), shapes: observed, partitionsOpen, waiters }
    }

    /** A valid write, then reads of it: the writer (thread) and the read path still work. */
    async function assertUsable(label: string): Promise<void> {
      const tx = nextTx++
      try {
        await engine.appendToLog(fx.probe, logItems(tx, 1))
        assert.equal(engine.fetchLatestOffset(fx.probe).toString(), `${tx}_0`)
        assert.deepEqual(await collect(engine.getLogStream(fx.probe, `${tx - 1}_0`)), [`{"tx":${tx},"op":0}`])
        assert.equal((await engine.getOrCreateShape({ table: 'items', where: 'id = 1' })).created, false)
      } catch (error) {
        assert.fail(`${label}: the engine is not usable after it: ${String(error)}`)
      }
    }

    /** The bad call rejects with `code` (or returns `returns`), changes nothing, and the engine stays usable. */
    async function check(
      label: string,
      call: (tx: number) => unknown,
      expected: { code: ErrorCode } | { returns: unknown },
    ): Promise<void> {
      const before = await observe()
      const tx = nextTx++
      let outcome: { error: unknown } | { value: unknown }
      try {
        outcome = { value: await call(tx) }
      } catch (error) {
        outcome = { error }
      }
      if ('code' in expected) {
        assert.ok('error' in outcome, `${label}: expected ${expected.code}, but it succeeded`)
        const { error } = outcome
        assert.ok(error instanceof EngineError, `${label}: expected ${expected.code}, got ${String(error)}`)
        assert.equal(error.code, expected.code, `${label}: ${error.message}`)
      } else {
        assert.ok(
          'value' in outcome,
          `${label}: expected a value, got ${String((outcome as { error: unknown }).error)}`,
        )
        assert.deepEqual(outcome.value, expected.returns, label)
      }
      assert.deepEqual(await observe(), before, `${label}: the store changed`)
      await assertUsable(label)
      tried++
    }

    // Every call that takes a handle, with otherwise valid arguments (a fresh transaction, so a
    // call that wrongly went through would write and show in the observed state).
    // The third field: what a well-formed handle of no shape gets instead of UNKNOWN_HANDLE.
    const HANDLE_CALLS: ReadonlyArray<readonly [string, Call, { returns: unknown }?]> = [
      ['fetchShapeByHandle', (e, h) => e.fetchShapeByHandle(anyArg(h)), { returns: undefined }],
      ['removeShape', (e, h) => e.removeShape(anyArg(h)), { returns: false }],
      ['setPgSnapshot', (e, h) => e.setPgSnapshot(anyArg(h), { xmin: 1, xmax: 2, xipList: [1], filterTxns: false })],
      ['markSnapshotStarted', (e, h) => e.markSnapshotStarted(anyArg(h))],
      ['snapshotStarted', (e, h) => e.snapshotStarted(anyArg(h))],
      ['makeNewSnapshot', (e, h) => e.makeNewSnapshot(anyArg(h), ['{"a":1}'])],
      ['appendToLog', (e, h, tx) => e.appendToLog(anyArg(h), logItems(tx, 2))],
      ['appendToLogs', (e, h, tx) => e.appendToLogs([{ handle: anyArg(h), items: logItems(tx, 2) }])],
      ['hibernate', (e, h) => e.hibernate(anyArg(h))],
      ['fetchLatestOffset', (e, h) => e.fetchLatestOffset(anyArg(h))],
      ['fetchLastPersistedOffset', (e, h) => e.fetchLastPersistedOffset(anyArg(h))],
      ['fetchPgSnapshot', (e, h) => e.fetchPgSnapshot(anyArg(h))],
      ['getChunkEndLogOffset', (e, h) => e.getChunkEndLogOffset(anyArg(h), '-1')],
      ['getLogStream', (e, h) => e.getLogStream(anyArg(h), '0_inf')],
      ['getLogJson', (e, h) => e.getLogJson(anyArg(h), '0_inf')],
      ['waitForOffset', (e, h) => e.waitForOffset(anyArg(h), '0_inf', { timeoutMs: 0 })],
    ]

    describe('handles', () => {
      for (const [call, run, unknownReturns] of HANDLE_CALLS) {
        test(`${call}: malformed handles are INVALID_HANDLE`, async () => {
          for (const [name, handle] of BAD_HANDLES) {
            await check(`${call}(${name})`, (tx) => run(engine, handle, tx), { code: 'INVALID_HANDLE' })
          }
        })
        test(`${call}: unknown and removed handles`, async () => {
          for (const [name, handle] of [
            ['never created', '1-1'],
            ['removed', fx.removed],
          ] as const) {
            await check(
              `${call}(${name})`,
              (tx) => run(engine, handle, tx),
              unknownReturns ?? { code: 'UNKNOWN_HANDLE' },
            )
          }
        })
      }
      test('appendToLogs: a bad handle next to a good shape writes into neither', async () => {
        for (const [name, handle] of [...BAD_HANDLES, ['never created', '1-1'] as const]) {
          await check(
            `appendToLogs([probe, ${name}])`,
            (tx) =>
              engine.appendToLogs([
                { handle: fx.probe, items: logItems(tx, 2) },
                { handle: anyArg(handle), items: logItems(tx, 2) },
              ]),
            { code: name === 'never created' ? 'UNKNOWN_HANDLE' : 'INVALID_HANDLE' },
          )
        }
      })
    })

    describe('offsets', () => {
      const OFFSET_CALLS: ReadonlyArray<readonly [string, Call]> = [
        ['getChunkEndLogOffset', (e, o) => e.getChunkEndLogOffset(fx.full, anyArg(o))],
        ['getLogStream since', (e, o) => e.getLogStream(fx.full, anyArg(o))],
        ['getLogStream upTo', (e, o) => e.getLogStream(fx.full, '-1', anyArg(o))],
        ['getLogJson since', (e, o) => e.getLogJson(fx.full, anyArg(o))],
        ['getLogJson upTo', (e, o) => e.getLogJson(fx.full, '-1', anyArg(o))],
        ['waitForOffset', (e, o) => e.waitForOffset(fx.full, anyArg(o), { timeoutMs: 0 })],
        ['appendToLog item offset', (e, o, tx) => e.appendToLog(fx.probe, [...logItems(tx, 1), offsetItem(o)])],
        ['appendToLog first item offset', (e, o, tx) => e.appendToLog(fx.probe, [offsetItem(o), ...logItems(tx, 1)])],
      ]
      for (const [call, run] of OFFSET_CALLS) {
        test(`${call}: malformed offsets are INVALID_OFFSET`, async () => {
          // An omitted upTo means "the latest offset"; everywhere else a missing offset is malformed.
          const offsets = call.endsWith('upTo') ? BAD_OFFSETS : [...BAD_OFFSETS, ['undefined', undefined] as const]
          for (const [name, offset] of offsets) {
            await check(`${call}(${name})`, (tx) => run(engine, offset, tx), { code: 'INVALID_OFFSET' })
          }
        })
      }
      test('log items: offsets that are not real (tx_op, tx > 0) are INVALID_ITEM', async () => {
        for (const [name, offset] of NOT_REAL_OFFSETS) {
          await check(
            `appendToLog(${name})`,
            (tx) => engine.appendToLog(fx.probe, [...logItems(tx, 1), offsetItem(offset)]),
            {
              code: 'INVALID_ITEM',
            },
          )
        }
      })
    })

    describe('log items', () => {
      test('appendToLog: malformed, disordered or oversized items reject the whole transaction', async () => {
        for (const { name, items, code } of BAD_ITEMS) {
          await check(`appendToLog(${name})`, (tx) => engine.appendToLog(fx.probe, anyArg(items(tx))), { code })
        }
      })
      test('appendToLogs: one bad transaction rejects every shape of the call', async () => {
        for (const { name, items, code } of BAD_ITEMS) {
          await check(
            `appendToLogs(full ok, probe ${name})`,
            (tx) =>
              engine.appendToLogs([
                { handle: fx.full, items: logItems(tx, 2) },
                { handle: fx.probe, items: anyArg(items(tx)) },
              ]),
            { code },
          )
        }
      })
      test('appendToLogs: malformed entries', async () => {
        const entries: ReadonlyArray<readonly [string, (tx: number) => unknown, ErrorCode]> = [
          ['entries null', () => null, 'INVALID_ITEM'],
          ['entries an object', (tx) => ({ handle: fx.probe, items: logItems(tx, 1) }), 'INVALID_ITEM'],
          ['entries a string', () => 'probe', 'INVALID_ITEM'],
          ['an entry null', (tx) => [{ handle: fx.probe, items: logItems(tx, 1) }, null], 'INVALID_ITEM'],
          ['an entry a number', (tx) => [{ handle: fx.probe, items: logItems(tx, 1) }, 5], 'INVALID_ITEM'],
          ['an entry without items', () => [{ handle: fx.probe }], 'INVALID_ITEM'],
          [
            'one shape twice',
            (tx) => [
              { handle: fx.probe, items: logItems(tx, 1) },
              { handle: fx.probe, items: logItems(tx + 1, 1) },
            ],
            'DUPLICATE_SHAPE',
          ],
          [
            'FANOUT_SHAPES_MAX + 1 entries',
            (tx) => Array.from({ length: 100_001 }, () => ({ handle: fx.probe, items: logItems(tx, 1) })),
            'TOO_LARGE',
          ],
        ]
        for (const [name, value, code] of entries) {
          await check(`appendToLogs(${name})`, (tx) => engine.appendToLogs(anyArg(value(tx))), { code })
        }
      })
      test('offsets at or below the log are a replay: skipped, nothing written, no error', async () => {
        const latest = engine.fetchLatestOffset(fx.full)
        const replays: ReadonlyArray<readonly [string, LogItem[]]> = [
          ['the last transaction again', logItems(11, 2)],
          ['an older transaction with other JSON', logItems(10, 3).map((i) => ({ ...i, json: '{"rewritten":1}' }))],
          ['one item below the log', [{ offset: '1_0', key: 'k', op: 'delete', json: '{}' }]],
          ['the last offset itself', [{ offset: latest.toString(), key: 'k', op: 'update', json: '{}' }]],
        ]
        for (const [name, items] of replays) {
          await check(`appendToLog(full, ${name})`, () => engine.appendToLog(fx.full, items), { returns: undefined })
        }
      })
    })

    describe('shape definitions', () => {
      test('getOrCreateShape and fetchHandleByShape: malformed definitions are INVALID_SHAPE', async () => {
        for (const [name, def] of BAD_SHAPES) {
          await check(`getOrCreateShape(${name})`, () => engine.getOrCreateShape(anyArg(def)), {
            code: 'INVALID_SHAPE',
          })
          await check(`fetchHandleByShape(${name})`, () => engine.fetchHandleByShape(anyArg(def)), {
            code: 'INVALID_SHAPE',
          })
        }
      })
      test('listShapes: malformed filters are checked at the call', async () => {
        for (const [name, filter, code] of BAD_LIST_FILTERS) {
          await check(`listShapes(${name})`, () => engine.listShapes(anyArg(filter)), { code })
        }
      })
    })

    describe('pg snapshots', () => {
      test('setPgSnapshot: malformed snapshots are INVALID_PG_SNAPSHOT', async () => {
        for (const [name, snapshot] of BAD_PG_SNAPSHOTS) {
          await check(`setPgSnapshot(${name})`, () => engine.setPgSnapshot(fx.full, anyArg(snapshot)), {
            code: 'INVALID_PG_SNAPSHOT',
          })
        }
      })
    })

    describe('waitForOffset options', () => {
      test('malformed options are INVALID_OPTION', async () => {
        for (const [name, options] of BAD_WAIT_OPTIONS) {
          await check(`waitForOffset(${name})`, () => engine.waitForOffset(fx.probe, '0_inf', anyArg(options)), {
            code: 'INVALID_OPTION',
          })
        }
      })
    })

    describe('snapshots', () => {
      test('makeNewSnapshot: what is not a row source is INVALID_ITEM before the attempt starts', async () => {
        for (const [name, rows] of BAD_ROW_SOURCES) {
          await check(`makeNewSnapshot(probe, ${name})`, () => engine.makeNewSnapshot(fx.probe, anyArg(rows)), {
            code: 'INVALID_ITEM',
          })
        }
      })
      test('makeNewSnapshot: a bad row fails the attempt, which stays incomplete; other shapes are untouched; a retry works', async () => {
        let n = 0
        for (const [name, rows, code] of BAD_ROWS) {
          const { handle } = await engine.getOrCreateShape({ table: 'snap', where: `n = ${n++}` })
          const before = await observe()
          await assert.rejects(
            async () => engine.makeNewSnapshot(handle, anyArg(rows())),
            (error: unknown) => error instanceof EngineError && error.code === code,
            `makeNewSnapshot(${name})`,
          )
          // Only the attempted shape changed, and only by being started: readers get no row of it.
          const after = (await observe()) as { shapes: Array<{ handle: string; started: boolean; snapshot: unknown }> }
          const attempted = after.shapes.find((s) => s.handle === handle)
          assert.equal(attempted?.started, true, name)
          assert.equal(attempted?.snapshot, 'SNAPSHOT_INCOMPLETE', name)
          const unchanged = (before as typeof after).shapes.filter((s) => s.handle !== handle)
          assert.deepEqual(
            after.shapes.filter((s) => s.handle !== handle),
            unchanged,
            `${name}: another shape changed`,
          )
          assert.equal((await engine.makeNewSnapshot(handle, ['{"ok":1}'])).toString(), '0_0', name)
          assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), ['{"ok":1}'], name)
          await engine.removeShape(handle)
          await assertUsable(name)
          tried++
        }
      })
    })

    describe('openEngine options', () => {
      test('malformed options are INVALID_OPTION and create nothing', async () => {
        let n = 0
        for (const [name, options] of BAD_ENGINE_OPTIONS) {
          const fresh = join(root, `fresh-${n++}`)
          await check(
            `openEngine(${name})`,
            () => openEngine(anyArg({ dir: fresh, runtime: target.runtime(), ...(options as object) })),
            { code: 'INVALID_OPTION' },
          )
          assert.equal(existsSync(fresh), false, `${name}: created ${fresh}`)
          // On the directory in use, too: options are checked before the lock is tried.
          await check(
            `openEngine(${name}) on the open directory`,
            () => openEngine(anyArg({ dir, runtime: target.runtime(), ...(options as object) })),
            { code: 'INVALID_OPTION' },
          )
        }
        for (const [name, bad] of BAD_DIRS) {
          await check(`openEngine(dir ${name})`, () => openEngine(anyArg({ dir: bad, runtime: target.runtime() })), {
            code: 'INVALID_OPTION',
          })
        }
        for (const [name, options] of [
          ['null', null],
          ['a string', dir],
          ['a number', 1],
        ] as const) {
          await check(`openEngine(${name})`, () => openEngine(anyArg(options)), { code: 'INVALID_OPTION' })
        }
        const file = join(root, 'a-file')
        writeFileSync(file, 'not a directory')
        await check('openEngine(dir is a file)', () => openEngine({ dir: file, runtime: target.runtime() }), {
          code: 'INVALID_OPTION',
        })
        assert.equal(readFileSync(file, 'utf8'), 'not a directory')
        // And a valid open still works afterwards.
        const other = await openEngine({ dir: join(root, 'valid'), runtime: target.runtime(), partitions: 1 })
        const { handle } = await other.getOrCreateShape({ table: 'items' })
        await other.appendToLog(handle, logItems(1, 1))
        assert.equal(other.fetchLatestOffset(handle).toString(), '1_0')
        await other.close()
      })
    })
  })
}

/** `count` items of transaction `tx`, ops 0..count-1, JSON `{"tx":..,"op":..}`. */
function logItems(tx: number, count: number): LogItem[] {
  return Array.from({ length: count }, (_, op) => ({
    offset: `${tx}_${op}`,
    key: `"public"."items"/"${tx}.${op}"`,
    op: 'insert' as const,
    json: `{"tx":${tx},"op":${op}}`,
  }))
}

/** An item whose offset is `offset` (placed last or first by the caller). */
function offsetItem(offset: unknown): LogItem {
  return { offset: anyArg(offset), key: 'k', op: 'insert', json: '{}' }
}

async function codeOrValue(read: () => Promise<unknown>): Promise<unknown> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof EngineError) return error.code
    throw error
  }
}
