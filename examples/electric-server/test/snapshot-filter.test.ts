/**
 * A shape's pg snapshot filters the replicated transactions it already holds until the first
 * transaction that began after it reaches it; then filtering stops for good (stored filterTxns
 * false, as Electric does), since a 32-bit xid compared with the snapshot wraps around 2^31
 * transactions later. A shape its where-clause keeps out of the changes filtered on, and 2^31
 * transactions later its first change compared as older than its snapshot: dropped. It now
 * stops once a transaction is 2^30 past its snapshot (not at once: a replay of the
 * unacknowledged tail must still find the transactions its snapshot holds filtered).
 * The embedded table store stands in for Postgres's snapshot read (it gives the rows; the pg
 * snapshot is set here); the transactions are given as the follower gives them.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Engine, openEngine, type ShapeHandle } from '@shapestore/engine'
import { ShapeService } from '../src/shapes/shape-service.ts'
import { canonicalTableName } from '../src/shapes/shape-spec.ts'
import type { TableSource } from '../src/table/table-source.ts'
import { TableStore } from '../src/table/table-store.ts'
import { tempDir } from './helpers.ts'

const SNAPSHOT_XID = 1_000

/** The store, its snapshots as Postgres would give them: taken at xid SNAPSHOT_XID, nothing in progress. */
function atSnapshot(store: TableStore): TableSource {
  return {
    get lastTx() {
      return store.lastTx
    },
    schema: (table) => store.schema(table),
    refreshSchema: (table) => store.refreshSchema(table),
    pending: () => store.pending(),
    clearPending: () => store.clearPending(),
    async snapshot(table) {
      const { rows } = await store.snapshot(table)
      const at = String(SNAPSHOT_XID)
      return { rows, pgSnapshot: { xmin: at, xmax: at, xipList: [], filterTxns: true } }
    },
  }
}

interface Fixture {
  readonly engine: Engine
  readonly store: TableStore
  /** The service, and a shape of it (`v = 5`) that the changes below never reach unless they say so. */
  readonly shapes: ShapeService
  readonly narrow: ShapeHandle
  /** Replicates an insert of row (id, v) as transaction `tx` with xid `xid`, in `service` (default: shapes), until durable. */
  apply(tx: number, xid: number, id: number, v: number, service?: ShapeService): Promise<void>
}

/** The table `items` (made through the store's own write path), served as if from Postgres. */
async function withNarrowShape(body: (f: Fixture) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir()
  const store = TableStore.open(dir)
  const engine = await openEngine({ dir: `${dir}/engine` })
  try {
    await (await ShapeService.open(engine, store)).write('items', { ops: [{ op: 'insert', row: { id: 1, v: 0 } }] })
    const shapes = await ShapeService.open(engine, atSnapshot(store))
    const narrow = await shapes.getOrCreate(shapes.resolve({ table: 'items', where: 'v = 5' }))
    const table = canonicalTableName('items')
    const apply = async (tx: number, xid: number, id: number, v: number, service = shapes) => {
      const insert = { op: 'insert' as const, id: String(id), before: null, after: { id, v } }
      await (await service.applyReplicated({ tx, xid, changes: new Map([[table, [insert]]]) }))?.durable
    }
    await body({ engine, store, shapes, narrow, apply })
  } finally {
    await engine.close()
    await store.close()
    cleanup()
  }
}

test('a shape that no replicated change goes to stops filtering 2^30 transactions after its snapshot, not at once', () =>
  withNarrowShape(async ({ engine, narrow, apply }) => {
    assert.equal(engine.fetchPgSnapshot(narrow)?.filterTxns, true)
    // 2^30 after the snapshot, to a row the narrow shape does not take.
    await apply(1_000_000, SNAPSHOT_XID + 2 ** 30 + 1, 2, 0)
    assert.equal(engine.fetchPgSnapshot(narrow)?.filterTxns, false, 'filtering stopped')
    // 2^31 transactions on, its first change: compared with the snapshot it would look older.
    await apply(2_000_000, (SNAPSHOT_XID + 2 ** 31 + 5) >>> 0, 3, 5)
    assert.equal(engine.fetchLatestOffset(narrow).tx, 2_000_000, 'the change reached the shape')
  }))

test('a transaction just after the snapshot that does not reach the shape leaves it filtering (a replay must be filtered)', () =>
  withNarrowShape(async ({ engine, narrow, apply }) => {
    await apply(1_000_000, SNAPSHOT_XID + 1, 2, 0)
    assert.equal(engine.fetchPgSnapshot(narrow)?.filterTxns, true)
  }))

test('after a restart, the shapes still filtering are found by collectFiltering, and stop at the next transaction', () =>
  withNarrowShape(async ({ engine, store, narrow, apply }) => {
    // A new service over the same store and engine: what a restart starts from.
    const restarted = await ShapeService.open(engine, atSnapshot(store))
    await apply(1_000_000, SNAPSHOT_XID + 2 ** 30 + 1, 1_000_000, 0, restarted)
    assert.equal(engine.fetchPgSnapshot(narrow)?.filterTxns, true, 'not met since the restart: not checked')
    await restarted.collectFiltering()
    await apply(1_000_001, SNAPSHOT_XID + 2 ** 30 + 2, 1_000_001, 0, restarted)
    assert.equal(engine.fetchPgSnapshot(narrow)?.filterTxns, false)
  }))
