/**
 * The crash loop's checker: reopens the directory a killed child left (on the worker runtime)
 * and checks it against everything the children reported (record.ts):
 *  - every shape in the catalog is one a child set out to create, one per slot; every shape
 *    whose creation was acknowledged is there, unless its removal was issued; a shape whose
 *    removal was acknowledged stays gone (its handle is unknown, its definition finds nothing);
 *  - each shape's log is whole transactions of its slot (every item, exact JSON, none twice)
 *    in strictly increasing order, each one sent to that shape; every acknowledged transaction
 *    is there, and so is every one an earlier check found;
 *  - a transaction sent once to several shapes of one partition is in all of them or in none
 *    (they commit together; across partitions each shape's part commits on its own);
 *  - the read-path keys agree with the log: latest offset == last persisted offset == the last
 *    transaction's last item (else the last snapshot chunk, else 0_inf); the pg snapshot is the
 *    one set (or none, if that was not acknowledged); snapshotStarted matches the snapshot;
 *  - a snapshot is complete and exact (chunk by chunk) if acknowledged or seen complete before,
 *    else absent (SNAPSHOT_NOT_STARTED) or interrupted (SNAPSHOT_INCOMPLETE), never partial;
 *  - getLogJson returns the same entries as getLogStream;
 *  - no partition holds records of a shape the catalog does not place there: a removal (finished
 *    at the latest by the open that checks) leaves nothing behind.
 * Throws an AssertionError naming the round and shape at the first violation.
 */
import assert from 'node:assert/strict'
import { type Engine, EngineError, ErrorCode, LogOffset, openEngine, type ShapeHandle } from '@shapestore/engine'
import { catalogPlaces, shapeIdsWithData, snapshotChunks } from '@shapestore/engine/crash-kit'
import { workerRuntime } from '../../src/index.ts'
import type { CrashRecord, ShapeRecord } from './record.ts'
import {
  CHUNK_BYTES_THRESHOLD,
  engineOptions,
  itemCount,
  itemJson,
  PARTITIONS,
  parseDefinition,
  parseEntry,
  pgSnapshotOf,
  shapeDefinition,
  snapshotRows,
} from './workload.ts'

const END = LogOffset.of(Number.MAX_SAFE_INTEGER, 0)

export interface CheckSummary {
  /** Shapes in the store after the round. */
  shapes: number
  /** Transactions found over all shapes (a fanout counts once per shape). */
  transactions: number
  completeSnapshots: number
  interruptedSnapshots: number
}

async function readAll(stream: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = []
  for await (const json of stream) all.push(json)
  return all
}

async function codeOf(action: () => unknown): Promise<string | undefined> {
  try {
    await action()
    return undefined
  } catch (error) {
    if (error instanceof EngineError) return error.code
    throw error
  }
}

/** Splits a log into its transactions, asserting each is whole, exact and after the one before. */
function transactionsOf(seed: number, record: ShapeRecord, log: readonly string[], what: string): number[] {
  const txs: number[] = []
  let previous = LogOffset.LAST_BEFORE_REAL
  let i = 0
  while (i < log.length) {
    const first = parseEntry(log[i] as string)
    assert.equal(first.s, record.slot, `${what}: entry ${i} belongs to slot ${first.s}`)
    const count = itemCount(seed, record.slot, first.t)
    for (let k = 0; k < count; k++, i++) {
      assert.equal(log[i], itemJson(seed, record.slot, first.t, k), `${what}: entry ${i}, item ${k} of tx ${first.t}`)
    }
    assert.ok(LogOffset.of(first.t, 0).isAfter(previous), `${what}: tx ${first.t} follows ${previous}`)
    previous = LogOffset.of(first.t, 2 * (count - 1))
    txs.push(first.t)
  }
  return txs
}

async function checkSnapshot(
  engine: Engine,
  seed: number,
  record: ShapeRecord,
  handle: ShapeHandle,
  what: string,
): Promise<string | undefined> {
  const rows = snapshotRows(seed, record.slot, record.gen)
  const chunks = snapshotChunks(rows, CHUNK_BYTES_THRESHOLD)
  const lastChunk = `0_${chunks.length - 1}`
  let read: string[] | undefined
  const code = await codeOf(async () => {
    read = await readAll(engine.getLogStream(handle, '-1', '0_inf'))
  })
  if (code !== undefined) {
    assert.equal(record.snapshotLast, undefined, `${what}: an acknowledged snapshot reads ${code}`)
    if (code === ErrorCode.SNAPSHOT_NOT_STARTED) {
      assert.equal(engine.snapshotStarted(handle), false, `${what}: snapshotStarted without a snapshot`)
    } else {
      assert.equal(code, ErrorCode.SNAPSHOT_INCOMPLETE, `${what}: snapshot read`)
      assert.ok(record.snapshotIssued, `${what}: a snapshot nobody started`)
      assert.equal(engine.snapshotStarted(handle), true, `${what}: an interrupted snapshot is not marked started`)
    }
    return undefined
  }
  assert.ok(record.snapshotIssued, `${what}: a snapshot nobody wrote`)
  assert.deepEqual(read, rows, `${what}: snapshot rows`)
  if (record.snapshotLast !== undefined)
    assert.equal(record.snapshotLast, lastChunk, `${what}: acknowledged last chunk`)
  assert.equal(engine.snapshotStarted(handle), true, `${what}: snapshotStarted`)
  for (let c = 0; c < chunks.length; c++) {
    const since = c === 0 ? '-1' : `0_${c - 1}`
    assert.deepEqual(await readAll(engine.getLogStream(handle, since, `0_${c}`)), chunks[c], `${what}: chunk ${c}`)
  }
  record.snapshotLast = lastChunk // durable from now on
  return lastChunk
}

async function checkShape(
  engine: Engine,
  seed: number,
  record: ShapeRecord,
  handle: ShapeHandle,
  what: string,
): Promise<{ txs: number[]; snapshot: string | undefined }> {
  const log = await readAll(engine.getLogStream(handle, '0_inf', END))
  const txs = transactionsOf(seed, record, log, what)
  const present = new Set(txs)
  for (const t of txs) assert.ok(record.sent.has(t), `${what}: tx ${t} was never sent to it`)
  for (const t of record.acked) assert.ok(present.has(t), `${what}: acknowledged tx ${t} is missing`)
  for (const t of record.found) assert.ok(present.has(t), `${what}: tx ${t}, found by an earlier check, is gone`)
  record.found = present

  const json = (await engine.getLogJson(handle, '0_inf', END)).toString('utf8')
  assert.equal(json, `[${log.join(',')}]`, `${what}: getLogJson differs from getLogStream`)

  const pg = engine.fetchPgSnapshot(handle)
  if (pg === null) assert.ok(!record.pgDurable, `${what}: the acknowledged pg snapshot is missing`)
  else {
    assert.ok(record.pgIssued, `${what}: a pg snapshot nobody set`)
    assert.deepEqual(pg, pgSnapshotOf(record.gen), `${what}: pg snapshot`)
    record.pgDurable = true
  }

  const snapshot = await checkSnapshot(engine, seed, record, handle, what)

  const latest = engine.fetchLatestOffset(handle).toString()
  assert.equal(engine.fetchLastPersistedOffset(handle).toString(), latest, `${what}: last persisted offset`)
  const last = txs.at(-1)
  const expected =
    last !== undefined ? `${last}_${2 * (itemCount(seed, record.slot, last) - 1)}` : (snapshot ?? '0_inf')
  assert.equal(latest, expected, `${what}: latest offset`)
  return { txs, snapshot }
}

/** Each handle's partition, read from the catalog (the engine does not expose it). */
async function partitionsOf(dir: string, handles: readonly ShapeHandle[]): Promise<Map<ShapeHandle, number>> {
  const places = await catalogPlaces(dir, handles)
  return new Map([...places].map(([handle, place]) => [handle, place.partition]))
}

/** A transaction sent once to shapes of one partition committed in all of them or in none. */
async function checkFanouts(dir: string, record: CrashRecord, round: string): Promise<void> {
  const present = [...record.byHandle.values()].filter((r) => r.handle !== undefined && !r.removeIssued)
  const partitions = await partitionsOf(
    dir,
    present.map((r) => r.handle as ShapeHandle),
  )
  for (const [id, send] of record.sends) {
    if (send.handles.length < 2) continue
    const groups = new Map<number, boolean[]>()
    for (const handle of send.handles) {
      // A shape that got the transaction from another send too (a replay) proves nothing here.
      if (record.sendCounts.get(`${handle} ${send.t}`) !== 1) continue
      const partition = partitions.get(handle)
      const shape = record.byHandle.get(handle)
      if (partition === undefined || shape === undefined || shape.removeIssued) continue
      const has = groups.get(partition) ?? []
      has.push(shape.found.has(send.t))
      groups.set(partition, has)
    }
    for (const [partition, has] of groups) {
      assert.ok(
        has.every((x) => x) || has.every((x) => !x),
        `${round}: send ${id} (tx ${send.t}) is in only some of its shapes in partition ${partition}`,
      )
    }
  }
}

/** No partition holds records of a shape that the catalog does not place there. */
async function checkNoLeftovers(dir: string, handles: readonly ShapeHandle[], round: string): Promise<void> {
  const places = [...(await catalogPlaces(dir, handles)).values()]
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const placed = new Set(places.filter((place) => place.partition === partition).map((place) => place.shapeId))
    for (const shapeId of await shapeIdsWithData(dir, partition)) {
      assert.ok(
        placed.has(shapeId),
        `${round}: partition ${partition} holds records of shape id ${shapeId}, which no shape of the catalog has (left by a removal)`,
      )
    }
  }
}

export async function checkStore(dir: string, seed: number, crash: CrashRecord, round: string): Promise<CheckSummary> {
  const summary: CheckSummary = { shapes: 0, transactions: 0, completeSnapshots: 0, interruptedSnapshots: 0 }
  // The child is dead: its directory lock went with it.
  const bySlot = new Map<number, ShapeHandle>()
  const engine = await openEngine({ ...engineOptions(dir), runtime: workerRuntime({ writers: 2, readers: 1 }) })
  try {
    for (const { handle, shape } of engine.listShapes()) {
      const parsed = parseDefinition(shape)
      assert.ok(parsed !== undefined, `${round}: a foreign shape ${JSON.stringify(shape)}`)
      const what = `${round}, shape ${parsed.slot}/${parsed.gen} (${handle})`
      const record = crash.byGen.get(parsed.gen)
      assert.ok(record !== undefined, `${what}: no child set out to create it`)
      assert.equal(record.slot, parsed.slot, `${what}: slot`)
      crash.setHandle(record, handle)
      assert.ok(!record.removeAcked, `${what}: came back after its removal was acknowledged`)
      assert.ok(!bySlot.has(parsed.slot), `${what}: slot ${parsed.slot} also holds ${bySlot.get(parsed.slot)}`)
      bySlot.set(parsed.slot, handle)
      record.created = true
      const { txs, snapshot } = await checkShape(engine, seed, record, handle, what)
      summary.shapes++
      summary.transactions += txs.length
      if (snapshot === undefined) summary.interruptedSnapshots++
      else summary.completeSnapshots++
    }
    for (const record of crash.byGen.values()) {
      const handle = record.handle
      if (handle === undefined) continue
      const what = `${round}, shape ${record.slot}/${record.gen} (${handle})`
      const inStore = bySlot.get(record.slot) === handle
      if (record.created && !record.removeIssued)
        assert.ok(inStore, `${what}: its creation was acknowledged; it is gone`)
      if (record.removeAcked) {
        assert.equal(engine.fetchShapeByHandle(handle), undefined, `${what}: removed, still resolves`)
        assert.equal(engine.fetchHandleByShape(shapeDefinition(record.slot, record.gen)), undefined, `${what}: lookup`)
        assert.equal(await codeOf(() => engine.fetchLatestOffset(handle)), ErrorCode.UNKNOWN_HANDLE, `${what}: read`)
      }
      if (record.removeIssued && !inStore) record.removeAcked = true // gone for good from now on
    }
  } finally {
    await engine.close()
  }
  await checkFanouts(dir, crash, round)
  await checkNoLeftovers(dir, [...bySlot.values()], round)
  return summary
}
