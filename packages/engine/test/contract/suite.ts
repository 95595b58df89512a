// The contract of the public API, written against openEngine only, so the same suite runs
// unchanged against every runtime (inline here; the worker runtime in packages/workers).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Engine, ErrorCode, LogOffset, openEngine, type Runtime } from '../../src/index.ts'
import { assertCode, collect, type Deferred, deferred, tempDir, txItems } from '../helpers.ts'

export interface ContractTarget {
  readonly name: string
  /** A fresh runtime for each engine the suite opens. */
  readonly runtime: () => Runtime
}

export function contractSuite(target: ContractTarget): void {
  describe(`engine contract (${target.name} runtime)`, () => {
    /** Runs `body` with an engine on a fresh directory; `reopen` closes it and opens a new one there. */
    async function withEngine(
      body: (ctx: { engine: Engine; reopen: () => Promise<Engine>; dir: string }) => Promise<void>,
      options: { chunkBytesThreshold?: number; partitions?: number; snapshotStallTimeoutMs?: number } = {},
    ): Promise<void> {
      const { dir, cleanup } = tempDir()
      const open = () => openEngine({ dir, runtime: target.runtime(), partitions: 2, ...options })
      let engine = await open()
      try {
        await body({
          dir,
          get engine() {
            return engine
          },
          reopen: async () => {
            await engine.close()
            engine = await open()
            return engine
          },
        })
      } finally {
        await engine.close()
        cleanup()
      }
    }

    const items = { table: 'items' }

    describe('catalog', () => {
      test('the same definition gets one handle; lookups work both ways', () =>
        withEngine(async ({ engine }) => {
          const first = await engine.getOrCreateShape({ table: 'items', where: 'id = 1' })
          const again = await engine.getOrCreateShape({ table: 'ITEMS', where: ' id = 1 ' })
          assert.equal(first.created, true)
          assert.deepEqual(again, { handle: first.handle, created: false })
          assert.equal(engine.fetchHandleByShape({ table: 'public.items', where: 'id = 1' }), first.handle)
          assert.equal(engine.fetchHandleByShape({ table: 'items', where: 'id = 2' }), undefined)
          assert.deepEqual(engine.fetchShapeByHandle(first.handle), {
            table: '"public"."items"',
            where: 'id = 1',
            replica: 'default',
          })
        }))

      test('concurrent creations of one shape get one handle, created once', () =>
        withEngine(async ({ engine }) => {
          const results = await Promise.all(Array.from({ length: 25 }, () => engine.getOrCreateShape(items)))
          assert.equal(new Set(results.map((r) => r.handle)).size, 1)
          assert.equal(results.filter((r) => r.created).length, 1)
          assert.equal(engine.countShapes(), 1)
        }))

      test('listShapes filters by table; countShapes counts; both survive a reopen', () =>
        withEngine(async ({ engine, reopen }) => {
          const a = await engine.getOrCreateShape({ table: 'a' })
          const b = await engine.getOrCreateShape({ table: 'b', where: 'x = 1' })
          const b2 = await engine.getOrCreateShape({ table: 'b', where: 'x = 2' })
          const reopened = await reopen()
          assert.equal(reopened.countShapes(), 3)
          assert.deepEqual(
            [...reopened.listShapes({ table: 'b' })].map((s) => s.handle).sort(),
            [b.handle, b2.handle].sort(),
          )
          assert.deepEqual(
            [...reopened.listShapes()].map((s) => s.handle).sort(),
            [a.handle, b.handle, b2.handle].sort(),
          )
          assert.equal(reopened.fetchHandleByShape({ table: 'a' }), a.handle)
        }))

      test('concurrent creations and removals of one shape never fail', () =>
        withEngine(async ({ engine }) => {
          const operations: Promise<unknown>[] = []
          for (let i = 0; i < 300; i++) {
            operations.push(engine.getOrCreateShape(items))
            operations.push(engine.getOrCreateShape(items).then(({ handle }) => engine.removeShape(handle)))
          }
          const results = await Promise.allSettled(operations)
          assert.deepEqual(
            results.filter((r) => r.status === 'rejected'),
            [],
          )
          assert.ok(engine.countShapes() <= 1)
        }))

      test('bad handles and shapes are coded errors', () =>
        withEngine(async ({ engine }) => {
          await assertCode(() => engine.fetchLatestOffset('../../etc'), ErrorCode.INVALID_HANDLE)
          await assertCode(() => engine.fetchLatestOffset('1-1'), ErrorCode.UNKNOWN_HANDLE)
          await assertCode(() => engine.appendToLog('1-1', txItems(1, 1)), ErrorCode.UNKNOWN_HANDLE)
          await assertCode(() => engine.fetchShapeByHandle('nope'), ErrorCode.INVALID_HANDLE)
          await assertCode(() => engine.getOrCreateShape({ table: '' }), ErrorCode.INVALID_SHAPE)
          assert.equal(engine.countShapes(), 0)
        }))
    })

    describe('a new shape', () => {
      test('reads as empty: 0_inf, not started, no pg snapshot', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          assert.equal(engine.fetchLatestOffset(handle).toString(), '0_inf')
          assert.equal(engine.fetchLastPersistedOffset(handle).toString(), '0_inf')
          assert.equal(engine.snapshotStarted(handle), false)
          assert.equal(engine.fetchPgSnapshot(handle), null)
          assert.deepEqual(await collect(engine.getLogStream(handle, '0_inf')), [])
          assert.equal(engine.getChunkEndLogOffset(handle, '0_inf'), null)
        }))
    })

    describe('appendToLog', () => {
      test('adds items; latest and persisted follow the last transaction', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(10, 3))
          assert.equal(engine.fetchLatestOffset(handle).toString(), '10_4')
          assert.equal(engine.fetchLastPersistedOffset(handle).toString(), '10_4')
          const rows = await collect(engine.getLogStream(handle, '0_inf'))
          assert.deepEqual(
            rows,
            txItems(10, 3).map((item) => item.json),
          )
        }))

      test('adds a lot of items in separate steps, in order', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          const expected: string[] = []
          const pending: Promise<void>[] = []
          for (let tx = 1; tx <= 300; tx++) {
            const batch = txItems(tx, 1 + (tx % 7))
            expected.push(...batch.map((item) => item.json))
            pending.push(engine.appendToLog(handle, batch))
          }
          await Promise.all(pending)
          assert.deepEqual(await collect(engine.getLogStream(handle, '0_inf')), expected)
          assert.equal(engine.fetchLatestOffset(handle).toString(), `300_${(300 % 7) * 2}`)
        }))

      test('is idempotent: items at or below the last offset are skipped', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(5, 3, 'first'))
          await engine.appendToLog(handle, txItems(5, 3, 'replayed'))
          // A replay that overlaps: 5_0..5_4 are skipped, 5_6 and 5_8 are new.
          await engine.appendToLog(handle, txItems(5, 5, 'overlap'))
          const rows = (await collect(engine.getLogStream(handle, '0_inf'))).map((json) => JSON.parse(json))
          assert.deepEqual(
            rows.map((row) => `${row.tx}_${row.op}:${row.v}`),
            ['5_0:first', '5_2:first', '5_4:first', '5_6:overlap', '5_8:overlap'],
          )
        }))

      test('a bad item rejects the whole transaction and writes nothing', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(1, 2))
          const good = txItems(2, 3)
          const outOfOrder = [good[0], good[2], good[1]] as typeof good
          await assertCode(() => engine.appendToLog(handle, outOfOrder), ErrorCode.OFFSET_OUT_OF_ORDER)
          await assertCode(
            () => engine.appendToLog(handle, [...good, { ...good[0]!, offset: '2_8' }, { ...good[0]!, offset: '2_8' }]),
            ErrorCode.OFFSET_OUT_OF_ORDER,
          )
          await assertCode(
            () => engine.appendToLog(handle, [...good, { ...good[0]!, offset: '0_9' }]),
            ErrorCode.INVALID_ITEM,
          )
          await assertCode(() => engine.appendToLog(handle, [{ ...good[0]!, offset: '2_x' }]), ErrorCode.INVALID_OFFSET)
          await assertCode(
            () => engine.appendToLog(handle, [{ ...good[0]!, op: 'upsert' as 'insert' }]),
            ErrorCode.INVALID_ITEM,
          )
          await assertCode(
            () =>
              engine.appendToLog(handle, [
                ...good,
                { ...good[0]!, offset: '3_0', json: 'x'.repeat(16 * 1024 * 1024 + 1) },
              ]),
            ErrorCode.TOO_LARGE,
          )
          assert.equal(engine.fetchLatestOffset(handle).toString(), '1_2')
          assert.equal((await collect(engine.getLogStream(handle, '0_inf'))).length, 2)
        }))

      test('appendToLogs: one transaction into many shapes, all or nothing', () =>
        withEngine(async ({ engine }) => {
          const handles = await Promise.all(
            Array.from(
              { length: 6 },
              async (_, i) => (await engine.getOrCreateShape({ table: 'items', where: `g = ${i}` })).handle,
            ),
          )
          await engine.appendToLogs(handles.map((handle) => ({ handle, items: txItems(7, 4) })))
          for (const handle of handles) assert.equal(engine.fetchLatestOffset(handle).toString(), '7_6')

          const bad = handles.map((handle, i) => ({
            handle,
            items: i === 4 ? [txItems(8, 2)[1]!, txItems(8, 2)[0]!] : txItems(8, 2),
          }))
          await assertCode(() => engine.appendToLogs(bad), ErrorCode.OFFSET_OUT_OF_ORDER)
          await assertCode(
            () =>
              engine.appendToLogs([
                { handle: handles[0]!, items: txItems(9, 1) },
                { handle: handles[0]!, items: txItems(9, 1) },
              ]),
            ErrorCode.DUPLICATE_SHAPE,
          )
          await assertCode(
            () =>
              engine.appendToLogs([
                { handle: handles[0]!, items: txItems(9, 1) },
                { handle: '1-1', items: txItems(9, 1) },
              ]),
            ErrorCode.UNKNOWN_HANDLE,
          )
          for (const handle of handles) {
            assert.equal(engine.fetchLatestOffset(handle).toString(), '7_6')
            assert.equal((await collect(engine.getLogStream(handle, '0_inf'))).length, 4)
          }
        }))
    })

    describe('getLogStream', () => {
      test('since is exclusive, upTo inclusive', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          for (let tx = 1; tx <= 5; tx++) await engine.appendToLog(handle, txItems(tx, 2))
          const offsets = async (since: string, upTo?: string) =>
            (await collect(engine.getLogStream(handle, since, upTo))).map((json) => {
              const row = JSON.parse(json)
              return `${row.tx}_${row.op}`
            })
          assert.deepEqual(await offsets('2_0', '3_2'), ['2_2', '3_0', '3_2'])
          assert.deepEqual(await offsets('2_2', '3_0'), ['3_0'])
          assert.deepEqual(await offsets('4_2'), ['5_0', '5_2'])
          assert.deepEqual(await offsets('5_2'), [])
          assert.deepEqual(await offsets('3_0', '2_0'), [], 'upTo before since is empty')
          assert.deepEqual(
            await offsets('0_inf', '1_1'),
            ['1_0'],
            'an upTo between ops skips the rest of the transaction',
          )
        }))

      test('arguments are checked at the call', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await assertCode(() => engine.getLogStream(handle, '1_2_3'), ErrorCode.INVALID_OFFSET)
          await assertCode(() => engine.getLogStream('1-1', '-1'), ErrorCode.UNKNOWN_HANDLE)
        }))

      test('reading the snapshot region before the snapshot started is SNAPSHOT_NOT_STARTED', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await assertCode(() => collect(engine.getLogStream(handle, '-1', '0_inf')), ErrorCode.SNAPSHOT_NOT_STARTED)
        }))
    })

    describe('getLogJson', () => {
      test('answers the same entries as getLogStream, as one JSON array', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            await engine.makeNewSnapshot(handle, ['{"s":0}', '{"s":1}', '{"s":2}'])
            for (let tx = 1; tx <= 6; tx++) await engine.appendToLog(handle, txItems(tx, 2))
            const offsets = ['-1', '0_0', '0_1', '0_inf', '1_0', '2_2', '4_0', '6_2']
            for (const since of offsets) {
              for (const upTo of [...offsets, undefined]) {
                const json = (await engine.getLogJson(handle, since, upTo)).toString('utf8')
                const streamed = await collect(engine.getLogStream(handle, since, upTo))
                assert.equal(json, `[${streamed.join(',')}]`, `(${since}, ${upTo}]`)
              }
            }
            await assertCode(() => engine.getLogJson(handle, 'x'), ErrorCode.INVALID_OFFSET)
          },
          { chunkBytesThreshold: 20 },
        ))
    })

    describe('snapshots', () => {
      /** n rows of 19 + size bytes each (31 by default: 32 with the separator, so 4 rows fill 100 bytes). */
      const rows = (n: number, size = 12) =>
        Array.from({ length: n }, (_, i) => JSON.stringify({ i: String(i).padStart(2, '0'), pad: 'x'.repeat(size) }))

      test('chunks by bytes; latest is the last chunk; readers get chunk by chunk, then the log', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            const snapshot = rows(10) // 32 bytes a row: a chunk closes after its 4th row (128 >= 100)
            const last = await engine.makeNewSnapshot(handle, snapshot)
            assert.equal(last.toString(), '0_2')
            assert.equal(engine.snapshotStarted(handle), true)
            assert.equal(engine.fetchLatestOffset(handle).toString(), '0_2')
            assert.deepEqual(await collect(engine.getLogStream(handle, '-1', '0_0')), snapshot.slice(0, 4))
            assert.deepEqual(await collect(engine.getLogStream(handle, '0_0', '0_1')), snapshot.slice(4, 8))
            assert.deepEqual(await collect(engine.getLogStream(handle, '0_1', '0_2')), snapshot.slice(8))
            assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), snapshot)
            assert.equal(engine.getChunkEndLogOffset(handle, '-1')?.toString(), '0_0')
            assert.equal(engine.getChunkEndLogOffset(handle, '0_0')?.toString(), '0_1')
            assert.equal(engine.getChunkEndLogOffset(handle, '0_2'), null)

            await engine.appendToLog(handle, txItems(3, 2))
            assert.equal(engine.fetchLatestOffset(handle).toString(), '3_2')
            assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), [
              ...snapshot,
              ...txItems(3, 2).map((item) => item.json),
            ])
            await assertCode(() => engine.makeNewSnapshot(handle, []), ErrorCode.SNAPSHOT_EXISTS)
          },
          { chunkBytesThreshold: 100 },
        ))

      test('concurrent snapshots larger together than the bytes allowed in flight all complete', () =>
        withEngine(async ({ engine }) => {
          // 24 shapes x 2 MiB: half again the engine's 32 MiB of encoded parts in flight, so
          // parts wait for earlier ones to commit; every shape must still get all its rows.
          const big = rows(2 * 1024, 1024)
          const handles = await Promise.all(
            Array.from(
              { length: 24 },
              async (_, i) => (await engine.getOrCreateShape({ table: 'items', where: `n = ${i}` })).handle,
            ),
          )
          await Promise.all(handles.map((handle) => engine.makeNewSnapshot(handle, big)))
          for (const handle of handles) {
            assert.equal(engine.fetchLatestOffset(handle).toString(), '0_0')
            const read = await collect(engine.getLogStream(handle, '-1'))
            assert.equal(read.length, big.length)
            assert.equal(read.at(-1), big.at(-1))
          }
        }))

      test('an empty snapshot is one empty chunk 0_0', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          assert.equal((await engine.makeNewSnapshot(handle, [])).toString(), '0_0')
          assert.equal(engine.fetchLatestOffset(handle).toString(), '0_0')
          assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), [])
        }))

      test('a reader of a snapshot being written gets all of it', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            const snapshot = rows(40, 200)
            let release!: () => void
            const halfway = new Promise<void>((resolve) => {
              release = resolve
            })
            async function* slowRows() {
              for (const [i, row] of snapshot.entries()) {
                if (i === 20) await halfway
                yield row
              }
            }
            await engine.markSnapshotStarted(handle)
            const writing = engine.makeNewSnapshot(handle, slowRows())
            const reading = collect(engine.getLogStream(handle, '-1', '0_inf'))
            await new Promise((resolve) => setTimeout(resolve, 30))
            release()
            await writing
            assert.deepEqual(await reading, snapshot)
          },
          { chunkBytesThreshold: 2000 },
        ))

      test('a reader that pauses while it tails a snapshot gets the parts committed meanwhile, without waiting', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            // Rows of ~1 KB: a chunk of several parts of 1 MiB; each batch more than a part.
            const batch = 1_100
            const row = JSON.stringify({ pad: 'x'.repeat(1_000) })
            const gates = [deferred(), deferred()]
            async function* source() {
              for (const gate of gates) {
                for (let i = 0; i < batch; i++) yield row
                await gate.promise
              }
            }
            const writing = engine.makeNewSnapshot(handle, source())
            await new Promise((resolve) => setTimeout(resolve, 200))
            const reader = engine.getLogStream(handle, '-1')[Symbol.asyncIterator]()
            await reader.next() // one row, then the consumer is slow (backpressure)
            ;(gates[0] as Deferred).resolve()
            await new Promise((resolve) => setTimeout(resolve, 300)) // the second batch commits meanwhile
            // Into the second batch (its first part), with the source stalled: the reader must not
            // wait for a change that happened while it was paused (it stopped at the end of the
            // first part, ~1,040 rows, and ran into SNAPSHOT_STALLED).
            let read = 1
            while (read <= batch) {
              const next = await reader.next()
              assert.equal(next.done, false)
              read++
            }
            ;(gates[1] as Deferred).resolve()
            await writing
            while (!(await reader.next()).done) read++
            assert.equal(read, 2 * batch)
          },
          { snapshotStallTimeoutMs: 1_000 },
        ))

      test('a reader tailing a snapshot that resumes after close() ends with ENGINE_CLOSED at once', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            const stalled = deferred()
            async function* source() {
              const row = JSON.stringify({ pad: 'x'.repeat(1_000) })
              for (let i = 0; i < 1_200; i++) yield row // more than a part: one commits
              await stalled.promise // then the source stalls (a slow query), past close()
            }
            const writing = engine.makeNewSnapshot(handle, source()).catch((error: unknown) => error)
            await new Promise((resolve) => setTimeout(resolve, 200))
            const reader = engine.getLogStream(handle, '-1')[Symbol.asyncIterator]()
            assert.equal((await reader.next()).done, false)
            await engine.close()
            const started = Date.now()
            // The rows it had read may still come; then ENGINE_CLOSED, not a wait for a change
            // nothing will make (it waited out its stall timeout, holding the process open).
            await assertCode(async () => {
              while (!(await reader.next()).done) {}
            }, ErrorCode.ENGINE_CLOSED)
            assert.ok(Date.now() - started < 1_000, `ended after ${Date.now() - started} ms`)
            stalled.resolve()
            await writing
          },
          { snapshotStallTimeoutMs: 3_000 },
        ))

      test('a failed snapshot is incomplete for readers; a retry replaces it, also for a reader started with it', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            // Chunk 0 (one 12-byte row >= 10) commits, then a bad row fails the attempt.
            await assertCode(
              () => engine.makeNewSnapshot(handle, ['"OLD-ROW-1"', 42 as unknown as string]),
              ErrorCode.INVALID_ITEM,
            )
            await assertCode(() => collect(engine.getLogStream(handle, '-1', '0_inf')), ErrorCode.SNAPSHOT_INCOMPLETE)
            const retry = engine.makeNewSnapshot(handle, ['"NEW-ROW-1"', '"NEW-ROW-2"'])
            const tailing = collect(engine.getLogStream(handle, '-1', '0_inf'))
            assert.equal((await retry).toString(), '0_1')
            assert.deepEqual(await tailing, ['"NEW-ROW-1"', '"NEW-ROW-2"'])
            assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), ['"NEW-ROW-1"', '"NEW-ROW-2"'])
          },
          { chunkBytesThreshold: 10 },
        ))

      test('a reader that tailed a failed attempt stops there: SNAPSHOT_INCOMPLETE, never the retry rows from where it was', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            let fail!: () => void
            const failing = new Promise<void>((resolve) => {
              fail = resolve
            })
            async function* firstAttempt() {
              yield* ['"OLD-ROW-1"', '"OLD-ROW-2"', '"OLD-ROW-3"']
              await failing
              throw new Error('the source failed')
            }
            const first = engine.makeNewSnapshot(handle, firstAttempt())
            const reader = engine.getLogStream(handle, '-1', '0_inf')[Symbol.asyncIterator]()
            assert.deepEqual((await reader.next()).value, '"OLD-ROW-1"')
            assert.deepEqual((await reader.next()).value, '"OLD-ROW-2"')
            // Retried as soon as it fails, and complete before the reader goes on: under the same
            // part keys, the retry's third row would follow the first attempt's second.
            const retry = first.catch(() =>
              engine.makeNewSnapshot(handle, ['"NEW-ROW-1"', '"NEW-ROW-2"', '"NEW-ROW-3"', '"NEW-ROW-4"']),
            )
            fail()
            assert.equal((await retry).toString(), '0_3')
            const rest: string[] = []
            await assertCode(async () => {
              for (let next = await reader.next(); !next.done; next = await reader.next()) rest.push(next.value)
            }, ErrorCode.SNAPSHOT_INCOMPLETE)
            assert.ok(
              rest.every((row) => row.startsWith('"OLD')),
              `rows of two attempts: ${rest}`,
            )
            assert.deepEqual(await collect(engine.getLogStream(handle, '-1')), [
              '"NEW-ROW-1"',
              '"NEW-ROW-2"',
              '"NEW-ROW-3"',
              '"NEW-ROW-4"',
            ])
          },
          { chunkBytesThreshold: 10 },
        ))

      test('offsets naming chunks past any a snapshot can have read as empty, never an uncoded error', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          const unfinished = (await engine.getOrCreateShape({ table: 'items', where: 'unfinished' })).handle
          await engine.markSnapshotStarted(unfinished)
          // 2^32 - 1 and 2^53 - 1 as chunk numbers: the first overran the key's 32-bit chunk
          // (a RangeError from Node), the second made an INVALID_OFFSET of its successor.
          for (const since of ['0_4294967295', '0_9007199254740991']) {
            assert.equal(engine.getChunkEndLogOffset(unfinished, since)?.toString() ?? null, null, since)
          }
          await engine.makeNewSnapshot(handle, ['"ROW"'])
          for (const since of ['0_4294967294', '0_4294967295', '0_9007199254740991']) {
            assert.deepEqual(await collect(engine.getLogStream(handle, since, '0_inf')), [], since)
            assert.equal((await engine.getLogJson(handle, since, '0_inf')).toString(), '[]', since)
          }
        }))

      test('pg snapshot and snapshot-started are stored and survive a reopen', () =>
        withEngine(async ({ engine, reopen }) => {
          const { handle } = await engine.getOrCreateShape(items)
          const pg = { xmin: 100, xmax: 105, xipList: [101, 103], filterTxns: true }
          await engine.setPgSnapshot(handle, pg)
          await engine.markSnapshotStarted(handle)
          assert.deepEqual(engine.fetchPgSnapshot(handle), pg)
          const reopened = await reopen()
          assert.deepEqual(reopened.fetchPgSnapshot(handle), pg)
          assert.equal(reopened.snapshotStarted(handle), true)
          await assertCode(() => reopened.setPgSnapshot(handle, { xmin: -1 } as never), ErrorCode.INVALID_PG_SNAPSHOT)
        }))

      test('pg snapshot xids as Postgres clients give an xid8: bigints and decimal strings, read back as numbers', () =>
        withEngine(async ({ engine, reopen }) => {
          const { handle } = await engine.getOrCreateShape(items)
          const big = 2 ** 53 - 1
          await engine.setPgSnapshot(handle, {
            xmin: '4294967396',
            xmax: BigInt(big),
            xipList: ['4294967397', 4294967398n],
          })
          const expected = { xmin: 4294967396, xmax: big, xipList: [4294967397, 4294967398], filterTxns: true }
          assert.deepEqual(engine.fetchPgSnapshot(handle), expected)
          assert.deepEqual((await reopen()).fetchPgSnapshot(handle), expected)
        }))

      test('a snapshot-only shape reports the same latest offset after a restart', () =>
        withEngine(
          async ({ engine, reopen }) => {
            const { handle } = await engine.getOrCreateShape(items)
            await engine.makeNewSnapshot(handle, rows(6))
            const before = engine.fetchLatestOffset(handle).toString()
            const reopened = await reopen()
            assert.equal(reopened.fetchLatestOffset(handle).toString(), before)
            assert.deepEqual(await collect(reopened.getLogStream(handle, '-1')), rows(6))
          },
          { chunkBytesThreshold: 100 },
        ))
    })

    describe('log chunks', () => {
      test('close by JSON bytes, continue across a reopen, and locate reads', () =>
        withEngine(
          async ({ engine, reopen }) => {
            const { handle } = await engine.getOrCreateShape(items)
            const item = (tx: number) => ({
              offset: `${tx}_0`,
              key: `k${tx}`,
              op: 'insert' as const,
              json: 'j'.repeat(40),
            })
            // 40 JSON bytes per item, threshold 100: every third item closes a chunk.
            for (let tx = 1; tx <= 4; tx++) await engine.appendToLog(handle, [item(tx)])
            assert.equal(engine.getChunkEndLogOffset(handle, '0_inf')?.toString(), '3_0')
            assert.equal(engine.getChunkEndLogOffset(handle, '2_0')?.toString(), '3_0')
            assert.equal(engine.getChunkEndLogOffset(handle, '3_0'), null, 'at a chunk end, the next (open) chunk')
            const reopened = await reopen()
            await reopened.appendToLog(handle, [item(5)])
            assert.equal(reopened.getChunkEndLogOffset(handle, '3_0'), null)
            await reopened.appendToLog(handle, [item(6)])
            assert.equal(reopened.getChunkEndLogOffset(handle, '3_0')?.toString(), '6_0')
            assert.equal(reopened.getChunkEndLogOffset(handle, '-1')?.toString(), '0_0')
          },
          { chunkBytesThreshold: 100 },
        ))
      test('a line over the threshold gets a chunk of its own', () =>
        withEngine(
          async ({ engine }) => {
            const { handle } = await engine.getOrCreateShape(items)
            const big = (tx: number) => ({
              offset: `${tx}_0`,
              key: `k${tx}`,
              op: 'update' as const,
              json: 'b'.repeat(150),
            })
            for (let tx = 1; tx <= 5; tx++) await engine.appendToLog(handle, [big(tx)])
            assert.equal(engine.getChunkEndLogOffset(handle, '0_inf')?.toString(), '1_0')
            for (let tx = 1; tx < 5; tx++) {
              assert.equal(engine.getChunkEndLogOffset(handle, `${tx}_0`)?.toString(), `${tx + 1}_0`)
              assert.deepEqual(await collect(engine.getLogStream(handle, `${tx}_0`, `${tx + 1}_0`)), [big(tx + 1).json])
            }
            assert.equal(engine.getChunkEndLogOffset(handle, '5_0'), null)
          },
          { chunkBytesThreshold: 100 },
        ))
    })

    describe('hibernate and reopen', () => {
      test('hibernate keeps reads; writing continues after it', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(1, 2))
          await engine.hibernate(handle)
          assert.equal(engine.fetchLatestOffset(handle).toString(), '1_2')
          await engine.appendToLog(handle, txItems(1, 3))
          await engine.appendToLog(handle, txItems(2, 1))
          assert.equal(engine.fetchLatestOffset(handle).toString(), '2_0')
          assert.equal((await collect(engine.getLogStream(handle, '0_inf'))).length, 4)
        }))

      test('reopen restores the latest offset, and replay stays idempotent', () =>
        withEngine(async ({ engine, reopen }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(4, 3))
          const reopened = await reopen()
          assert.equal(reopened.fetchLatestOffset(handle).toString(), '4_4')
          await reopened.appendToLog(handle, txItems(4, 3, 'again'))
          assert.deepEqual(
            await collect(reopened.getLogStream(handle, '0_inf')),
            txItems(4, 3).map((item) => item.json),
          )
        }))
    })

    describe('removeShape', () => {
      test('lookups, log, snapshot and keys go; a new shape gets a new handle', () =>
        withEngine(async ({ engine, reopen }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.makeNewSnapshot(handle, ['{"a":1}'])
          await engine.appendToLog(handle, txItems(1, 2))
          assert.equal(engine.fetchLatestOffset(handle).toString(), '1_2')
          assert.equal(await engine.removeShape(handle), true)
          assert.equal(await engine.removeShape(handle), false)
          await assertCode(() => engine.fetchLatestOffset(handle), ErrorCode.UNKNOWN_HANDLE)
          await assertCode(() => engine.appendToLog(handle, txItems(2, 1)), ErrorCode.UNKNOWN_HANDLE)
          assert.equal(engine.fetchHandleByShape(items), undefined)
          assert.equal(engine.countShapes(), 0)
          const again = await engine.getOrCreateShape(items)
          assert.notEqual(again.handle, handle)
          assert.equal(again.created, true)
          assert.equal(engine.fetchLatestOffset(again.handle).toString(), '0_inf')
          const reopened = await reopen()
          await assertCode(() => reopened.fetchLatestOffset(handle), ErrorCode.UNKNOWN_HANDLE)
          assert.equal(reopened.countShapes(), 1)
        }))

      test('a stream open during removal stops with SHAPE_REMOVED, not a shorter answer; waiters reject with SHAPE_REMOVED', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          for (let tx = 1; tx <= 400; tx++) await engine.appendToLog(handle, txItems(tx, 1))
          const stream = engine.getLogStream(handle, '0_inf')[Symbol.asyncIterator]()
          const first = await stream.next()
          assert.equal(first.done, false)
          const waiting = engine.waitForOffset(handle, '400_0', { timeoutMs: 5000 })
          await engine.removeShape(handle)
          let rest = 0
          await assertCode(async () => {
            for (let next = await stream.next(); next.done !== true; next = await stream.next()) rest++
          }, ErrorCode.SHAPE_REMOVED)
          assert.ok(rest < 399, `the stream stopped early (read ${rest + 1} of 400)`)
          await assertCode(() => waiting, ErrorCode.SHAPE_REMOVED)
        }))
    })

    describe('waitForOffset', () => {
      test('resolves true once the shape moves past the offset, false on timeout', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          await engine.appendToLog(handle, txItems(1, 1))
          assert.equal(await engine.waitForOffset(handle, '0_inf', { timeoutMs: 10 }), true)
          assert.equal(await engine.waitForOffset(handle, '1_0', { timeoutMs: 10 }), false)
          const waiters = Array.from({ length: 100 }, () => engine.waitForOffset(handle, '1_0', { timeoutMs: 5000 }))
          await engine.appendToLog(handle, txItems(2, 1))
          assert.deepEqual(new Set(await Promise.all(waiters)), new Set([true]))
        }))

      // One partition: the commit and the wake-ups arrive together (with two, the first
      // partition's readers are rightly woken before the second partition has committed).
      test("a fanout's acknowledgement is not queued behind the readers it wakes", () =>
        withEngine(
          async ({ engine }) => {
            const handles: string[] = []
            for (let i = 0; i < 20; i++)
              handles.push((await engine.getOrCreateShape({ table: 't', where: `k = ${i}` })).handle)
            const order: string[] = []
            // Each woken reader does its work synchronously, as a live response does.
            const readers = handles.map((handle) =>
              engine.waitForOffset(handle, '0_inf', { timeoutMs: 5000 }).then((moved) => {
                assert.equal(moved, true)
                order.push('reader')
              }),
            )
            const items = txItems(1, 2)
            // The caller's chain is a few promise hops long (Promise.all, then), as a server's is.
            const acknowledged = Promise.all([engine.appendToLogs(handles.map((handle) => ({ handle, items })))]).then(
              () => order.push('acknowledged'),
            )
            await Promise.all([acknowledged, ...readers])
            assert.equal(order[0], 'acknowledged', `order: ${order.join(', ')}`)
            assert.equal(order.length, handles.length + 1)
          },
          { partitions: 1 },
        ))

      test('an abort rejects with ABORTED; bad arguments are coded', () =>
        withEngine(async ({ engine }) => {
          const { handle } = await engine.getOrCreateShape(items)
          const controller = new AbortController()
          const waiting = engine.waitForOffset(handle, '0_inf', { timeoutMs: 5000, signal: controller.signal })
          controller.abort()
          await assertCode(() => waiting, ErrorCode.ABORTED)
          await assertCode(() => engine.waitForOffset(handle, 'x'), ErrorCode.INVALID_OFFSET)
          await assertCode(() => engine.waitForOffset(handle, '1_0', { timeoutMs: -1 }), ErrorCode.INVALID_OPTION)
        }))
    })

    describe('races', () => {
      test('readers filling while writers (re)initialise and publish never see an offset go back', async () => {
        const { dir, cleanup } = tempDir()
        const open = () => openEngine({ dir, runtime: target.runtime(), partitions: 2 })
        let engine = await open()
        try {
          const handles: string[] = []
          for (let i = 0; i < 24; i++)
            handles.push((await engine.getOrCreateShape({ table: 't', where: `k = ${i}` })).handle)
          let tx = 0
          for (let round = 0; round < 25; round++) {
            // A fresh engine: every first read is a miss that fills from LMDB while the writers
            // start, load their state and publish.
            await engine.close()
            engine = await open()
            const live = engine
            const lastSeen = new Map<string, LogOffset>()
            let reading = true
            const readers = (async () => {
              while (reading) {
                for (const handle of handles) {
                  const offset = live.fetchLatestOffset(handle)
                  const previous = lastSeen.get(handle)
                  if (previous !== undefined)
                    assert.ok(!offset.isBefore(previous), `went back from ${previous} to ${offset}`)
                  lastSeen.set(handle, offset)
                }
                await new Promise((resolve) => setImmediate(resolve))
              }
            })()
            const writes: Promise<void>[] = []
            for (let i = 0; i < 6; i++) {
              tx++
              // Distinct items per shape: each shape's record is its own (no shared record).
              writes.push(live.appendToLogs(handles.map((handle) => ({ handle, items: txItems(tx, 2) }))))
              await new Promise((resolve) => setImmediate(resolve))
            }
            await Promise.all(writes)
            reading = false
            await readers
            for (const handle of handles) assert.equal(live.fetchLatestOffset(handle).toString(), `${tx}_2`)
          }
        } finally {
          await engine.close()
          cleanup()
        }
      })

      test('readers racing a removal never bring the shape back', () =>
        withEngine(async ({ engine }) => {
          for (let round = 0; round < 60; round++) {
            const { handle } = await engine.getOrCreateShape({ table: 'items', where: `round = ${round}` })
            await engine.appendToLog(handle, txItems(round + 1, 3))
            if (round % 2 === 0) await engine.hibernate(handle)
            let removing = true
            const removal = engine.removeShape(handle).finally(() => {
              removing = false
            })
            let reads = 0
            while (removing) {
              try {
                engine.fetchLatestOffset(handle)
                engine.snapshotStarted(handle)
              } catch (error) {
                assert.equal((error as { code?: string }).code, ErrorCode.UNKNOWN_HANDLE)
              }
              reads++
              await (reads % 2 === 0 ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve)))
            }
            assert.equal(await removal, true)
            await assertCode(() => engine.fetchLatestOffset(handle), ErrorCode.UNKNOWN_HANDLE)
            await assertCode(() => engine.fetchPgSnapshot(handle), ErrorCode.UNKNOWN_HANDLE)
          }
        }))
    })

    describe('lifecycle', () => {
      test('one engine per directory; close releases it; calls after close are ENGINE_CLOSED', async () => {
        const { dir, cleanup } = tempDir()
        try {
          const engine = await openEngine({ dir, runtime: target.runtime() })
          await assertCode(() => openEngine({ dir, runtime: target.runtime() }), ErrorCode.DIRECTORY_LOCKED)
          const { handle } = await engine.getOrCreateShape(items)
          const waiting = engine.waitForOffset(handle, '0_inf', { timeoutMs: 60_000 })
          await engine.close()
          await assertCode(() => waiting, ErrorCode.ENGINE_CLOSED)
          await assertCode(() => engine.fetchLatestOffset(handle), ErrorCode.ENGINE_CLOSED)
          await assertCode(() => engine.appendToLog(handle, txItems(1, 1)), ErrorCode.ENGINE_CLOSED)
          await assertCode(
            () => openEngine({ dir, partitions: 3, runtime: target.runtime() }),
            ErrorCode.CONFIG_MISMATCH,
          )
          const again = await openEngine({ dir, runtime: target.runtime() })
          assert.equal(again.fetchLatestOffset(handle).toString(), '0_inf')
          await again.close()
        } finally {
          cleanup()
        }
      })

      test('opening reads no per-shape data and opens no partition', () =>
        withEngine(async ({ engine, reopen }) => {
          const handles: string[] = []
          for (let i = 0; i < 50; i++) {
            const { handle } = await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })
            await engine.appendToLog(handle, txItems(1, 1))
            handles.push(handle)
          }
          const reopened = await reopen()
          assert.deepEqual(reopened.stats(), {
            catalogRecordsRead: 0,
            readPathMisses: 0,
            metaRecordsRead: 0,
            partitionsOpen: 0,
            waiters: 0,
            pooledLogReads: 0,
          })
          for (const handle of handles) assert.equal(reopened.fetchLatestOffset(handle).toString(), '1_0')
          assert.equal(reopened.stats().readPathMisses, 50, 'one miss per shape, then hits')
          assert.equal(reopened.stats().metaRecordsRead, 50, 'one LMDB record per miss')
          for (const handle of handles) reopened.fetchLatestOffset(handle)
          assert.equal(reopened.stats().readPathMisses, 50)
          assert.equal(reopened.stats().metaRecordsRead, 50)
        }))

      test('close commits writes that are still pending', async () => {
        const { dir, cleanup } = tempDir()
        try {
          const engine = await openEngine({ dir, runtime: target.runtime() })
          const { handle } = await engine.getOrCreateShape(items)
          const appended = engine.appendToLog(handle, txItems(9, 2))
          await engine.close()
          await appended
          const again = await openEngine({ dir, runtime: target.runtime() })
          assert.equal(again.fetchLatestOffset(handle).toString(), '9_2')
          await again.close()
        } finally {
          cleanup()
        }
      })

      test('bad options are INVALID_OPTION', async () => {
        await assertCode(() => openEngine({ dir: '' }), ErrorCode.INVALID_OPTION)
        await assertCode(() => openEngine({ dir: '/tmp/x', partitions: 0 }), ErrorCode.INVALID_OPTION)
        await assertCode(() => openEngine({ dir: '/tmp/x', chunkBytesThreshold: 1.5 }), ErrorCode.INVALID_OPTION)
      })
    })

    test('offsets cross the API as LogOffset objects', () =>
      withEngine(async ({ engine }) => {
        const { handle } = await engine.getOrCreateShape(items)
        await engine.appendToLog(handle, [{ offset: LogOffset.of(3, 1), key: 'k', op: 'delete', json: '{}' }])
        assert.ok(engine.fetchLatestOffset(handle).equals(LogOffset.parse('3_1')))
      }))
  })
}
