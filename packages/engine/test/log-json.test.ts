// Proves readLogJson returns, byte for byte, the JSON array of what getLogStream streams for the same (since, upTo], across snapshot chunks, multi-part chunks, log records and neighbouring shapes, and refuses ranges that reach an incomplete snapshot.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Catalog, type Engine, EngineError, ErrorCode, LogOffset, openEngine, PartitionStores } from '../src/index.ts'
import { readLogJson } from '../src/log-store/log-json.ts'
import { collect, tempDir } from './helpers.ts'

const PARTITIONS = 1
const MAP_BYTES = 1 << 30

interface Item {
  offset: string
  key: string
  op: 'insert' | 'update' | 'delete'
  json: string
}

/** Row JSON with multi-byte UTF-8 and the array's own separators inside strings. */
function rowJson(tag: string, i: number, padBytes = 0): string {
  return JSON.stringify({ tag, i, text: `é😀,]["${i}`, pad: 'x'.repeat(padBytes) })
}

/** One transaction of `count` rows at tx, ops 1, 3, 5 ... (gaps, so `tx_2` is between rows). */
function tx(tag: string, txNumber: number, count: number): Item[] {
  return Array.from({ length: count }, (_, i) => ({
    offset: `${txNumber}_${2 * i + 1}`,
    key: `"public"."t"/"${tag}-${txNumber}-${i}"`,
    op: i % 3 === 0 ? 'insert' : i % 3 === 1 ? 'update' : 'delete',
    json: rowJson(`${tag}${txNumber}`, i),
  }))
}

/** Every offset where a range could start or end: chunk boundaries, each row, the gaps around them, tx ends. */
function candidateOffsets(lastSnapshotChunk: number, items: readonly Item[]): string[] {
  const offsets = new Set<string>(['-1', '0_inf'])
  for (let n = 0; n <= lastSnapshotChunk + 1; n++) offsets.add(`0_${n}`)
  for (const { offset } of items) {
    const [txPart, opPart] = offset.split('_').map(Number) as [number, number]
    offsets.add(offset)
    offsets.add(`${txPart}_${opPart - 1}`)
    offsets.add(`${txPart}_${opPart + 1}`)
    offsets.add(`${txPart}_inf`)
    offsets.add(`${txPart - 1}_inf`)
  }
  const lastTx = Math.max(...items.map(({ offset }) => Number(offset.split('_')[0])))
  offsets.add(`${lastTx + 7}_0`)
  return [...offsets].sort((a, b) => LogOffset.compare(LogOffset.parse(a), LogOffset.parse(b)))
}

type Expected = Map<string, string[]>

/** Collects the stream of every (since, upTo) pair while the engine is open. */
async function streamAll(engine: Engine, handle: string, offsets: readonly string[]): Promise<Expected> {
  const expected: Expected = new Map()
  for (const since of offsets) {
    for (const upTo of offsets)
      expected.set(`${since} ${upTo}`, await collect(engine.getLogStream(handle, since, upTo)))
  }
  return expected
}

/** Opens the directory's partitions the way a reader thread does, after the engine closed. */
async function withStore(
  dir: string,
  handles: readonly string[],
  body: (read: (handle: string, since: string, upTo: string, lastChunk: number | null) => string) => void,
): Promise<void> {
  const catalog = Catalog.open(dir, { partitions: PARTITIONS, mapSizeBytes: MAP_BYTES })
  const stores = new PartitionStores(dir, { mapSizeBytes: MAP_BYTES })
  try {
    const entries = new Map(handles.map((handle) => [handle, catalog.entry(handle)]))
    body((handle, since, upTo, lastChunk) => {
      const entry = entries.get(handle)
      assert.ok(entry !== undefined)
      const json = readLogJson(
        stores.get(entry.partition),
        entry.shapeId,
        LogOffset.parse(since),
        LogOffset.parse(upTo),
        lastChunk,
      )
      return json.toString('utf8')
    })
  } finally {
    await stores.close()
    await catalog.close()
  }
}

function assertSameAsStream(json: string, streamed: readonly string[], pair: string): void {
  // Byte-exact: what a client receives (compared as a boolean: a diff of megabyte rows is unreadable);
  // JSON.parse: it is one valid array of the same rows.
  assert.ok(json === `[${streamed.join(',')}]`, `${pair}: not the streamed rows (${json.length} chars)`)
  assert.deepEqual(
    JSON.parse(json),
    streamed.map((row) => JSON.parse(row)),
    pair,
  )
}

describe('readLogJson', () => {
  test('equals the stream for every (since, upTo) over small snapshot chunks and a log between neighbours', async () => {
    const { dir, cleanup } = tempDir()
    try {
      const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 100 })
      // Neighbours with the ids just below and above the target's: a range must not leak into them.
      const before = (await engine.getOrCreateShape({ table: 'before' })).handle
      const { handle } = await engine.getOrCreateShape({ table: 'target' })
      const after = (await engine.getOrCreateShape({ table: 'after' })).handle
      const snapshot = Array.from({ length: 11 }, (_, i) => rowJson('s', i, i * 7))
      const last = await engine.makeNewSnapshot(handle, snapshot)
      await engine.makeNewSnapshot(before, [rowJson('b', 0)])
      await engine.makeNewSnapshot(after, [rowJson('a', 0)])
      const items: Item[] = []
      for (let t = 1; t <= 12; t++) {
        const rows = tx('x', t * 10, 1 + (t % 5))
        items.push(...rows)
        await engine.appendToLogs([
          { handle: before, items: tx('b', t * 10, 2) },
          { handle, items: rows },
          { handle: after, items: tx('a', t * 10, 2) },
        ])
      }
      // A fanout: the same items array to the target and 4 more shapes of its partition is
      // stored once (a shared record) and the target's log holds a reference to it.
      const fanout = tx('f', 125, 4)
      const others = await Promise.all(
        [1, 2, 3, 4].map(async (i) => (await engine.getOrCreateShape({ table: `fanout${i}` })).handle),
      )
      await engine.appendToLogs([handle, ...others].map((h) => ({ handle: h, items: fanout })))
      items.push(...fanout)
      // A replay that overlaps the last transaction: only its new rows become a record, whose
      // first row is then not the transaction's first.
      const replayed = tx('y', 130, 6)
      await engine.appendToLog(handle, replayed.slice(0, 3))
      await engine.appendToLog(handle, replayed)
      items.push(...replayed)
      assert.equal(engine.fetchLatestOffset(handle).toString(), '130_11')

      const offsets = candidateOffsets(last.op, items)
      const expected = await streamAll(engine, handle, offsets)
      await engine.close()

      await withStore(dir, [handle], (read) => {
        for (const [pair, streamed] of expected) {
          const [since, upTo] = pair.split(' ') as [string, string]
          assertSameAsStream(read(handle, since, upTo, last.op), streamed, pair)
        }
      })
      const probe = new PartitionStores(dir, { mapSizeBytes: MAP_BYTES })
      assert.equal(probe.get(0).txs.getCount(), 1, 'the fanout was stored as a shared record')
      await probe.close()
      // The sample covers the interesting cases: empty, snapshot only, log only, both.
      const everything = expected.get(`-1 ${offsets.at(-1)}`)
      assert.equal(everything?.length, snapshot.length + items.length)
      assert.ok(offsets.length > 60, `only ${offsets.length} offsets`)
    } finally {
      cleanup()
    }
  })

  test('equals the stream across chunks committed in several parts', async () => {
    const { dir, cleanup } = tempDir()
    try {
      // Rows of 300 KB: a part is committed every 4 rows (1 MiB), a chunk closes after 6 (1.5 MiB).
      const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 1.5 * 1024 * 1024 })
      const { handle } = await engine.getOrCreateShape({ table: 'big' })
      const snapshot = Array.from({ length: 15 }, (_, i) => rowJson('big', i, 300_000))
      const last = await engine.makeNewSnapshot(handle, snapshot)
      assert.equal(last.toString(), '0_2')
      const items = [...tx('x', 5, 3), ...tx('x', 6, 1)]
      await engine.appendToLog(handle, items.slice(0, 3))
      await engine.appendToLog(handle, items.slice(3))
      const offsets = ['-1', '0_0', '0_1', '0_2', '0_3', '0_inf', '5_3', '6_1', '9_0']
      const expected = await streamAll(engine, handle, offsets)
      await engine.close()

      await withStore(dir, [handle], (read) => {
        for (const [pair, streamed] of expected) {
          const [since, upTo] = pair.split(' ') as [string, string]
          assertSameAsStream(read(handle, since, upTo, last.op), streamed, pair)
        }
      })
      assert.equal(expected.get('-1 0_0')?.length, 6)
    } finally {
      cleanup()
    }
  })

  test('an empty snapshot and an empty range give []', async () => {
    const { dir, cleanup } = tempDir()
    try {
      const engine = await openEngine({ dir, partitions: PARTITIONS })
      const { handle } = await engine.getOrCreateShape({ table: 'empty' })
      await engine.makeNewSnapshot(handle, [])
      await engine.close()
      await withStore(dir, [handle], (read) => {
        assert.equal(read(handle, '-1', '0_0', 0), '[]')
        assert.equal(read(handle, '-1', '3_0', 0), '[]')
        assert.equal(read(handle, '0_0', '-1', 0), '[]')
        assert.equal(read(handle, '0_inf', '0_inf', 0), '[]')
      })
    } finally {
      cleanup()
    }
  })

  test('a range into an incomplete snapshot is SNAPSHOT_INCOMPLETE; the log alone is read', async () => {
    const { dir, cleanup } = tempDir()
    try {
      const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 100 })
      const { handle } = await engine.getOrCreateShape({ table: 'interrupted' })
      // A snapshot that fails after its first chunks: they are committed, the snapshot is not complete.
      async function* failing() {
        for (let i = 0; i < 8; i++) yield rowJson('s', i, 40)
        throw new Error('source gone')
      }
      await assert.rejects(engine.makeNewSnapshot(handle, failing()), /source gone/)
      await engine.appendToLog(handle, tx('x', 3, 2))
      const logOnly = await collect(engine.getLogStream(handle, '0_inf', '3_3'))
      await engine.close()
      await withStore(dir, [handle], (read) => {
        for (const [since, upTo] of [
          ['-1', '0_0'],
          ['-1', '3_3'],
          ['0_0', '0_1'],
          ['0_5', '3_1'],
        ] as const) {
          assert.throws(
            () => read(handle, since, upTo, null),
            (error: unknown) => EngineError.isCode(error, ErrorCode.SNAPSHOT_INCOMPLETE),
            `${since} ${upTo}`,
          )
        }
        assertSameAsStream(read(handle, '0_inf', '3_3', null), logOnly, '0_inf 3_3')
        assert.equal(logOnly.length, 2)
      })
    } finally {
      cleanup()
    }
  })
})
