/**
 * Postgres mode against a real PostgreSQL (pg-helpers.ts): the server follows a publication
 * through a pgoutput slot. The official client syncs what SQL writes; shapes created while
 * other connections commit get every change exactly once; a SIGKILL of the server and a
 * restart of PostgreSQL lose and double nothing. "Exactly once" is checked by reading each
 * shape's whole log over HTTP (an insert of a present key, an update or delete of an absent one
 * fails) and comparing it with a SELECT of the same rows.
 */
import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import pg from 'pg'
import { type ShapeServer, startShapeServer } from '../src/index.ts'
import { byId, connect, spawnServer, TEST_LONG_POLL_MS, tempDir } from './helpers.ts'
import {
  confirmedFlush,
  freshDatabase,
  ownPgClusterAt,
  type PgCluster,
  readShape,
  requirePg,
  restartPg,
  withClient,
} from './pg-helpers.ts'

interface PgSetup {
  readonly db: string
  readonly slot: string
  readonly dir: string
  cleanup(): Promise<void>
}

/** A database with `ddl` run in it, a slot name of its own, a server data directory. */
async function setup(cluster: PgCluster, ddl: string): Promise<PgSetup> {
  const db = await freshDatabase(cluster)
  await withClient(db, (client) => client.query(ddl))
  const slot = `s_${new URL(db).pathname.slice(1)}`
  const temp = tempDir()
  return {
    db,
    slot,
    dir: temp.dir,
    async cleanup() {
      temp.cleanup()
      await withClient(cluster.url, async (client) => {
        await client.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        )
        await client.query(`DROP DATABASE IF EXISTS ${new URL(db).pathname.slice(1)} WITH (FORCE)`)
      })
    },
  }
}

/**
 * An in-process server with inline writers, as the other in-process tests use; the SIGKILL test
 * runs the worker runtime in a process of its own. (This file once aborted in CI in lmdb-js's
 * native module load: a reader thread stopped while it loaded, fixed in ReaderPool.close,
 * docs/reliability.md.)
 */
function startPgServer(s: PgSetup, writers = 0): Promise<ShapeServer> {
  return startShapeServer({
    dir: s.dir,
    writers,
    longPollTimeoutMs: TEST_LONG_POLL_MS,
    pg: { connectionString: s.db, publication: 'shapestore', slot: s.slot },
  })
}

/**
 * An in-process server on a fresh database set up with `ddl`, given to `body`; closed and the
 * database dropped after. Skips the test without a PostgreSQL.
 */
async function onPgServer(
  t: TestContext,
  ddl: string,
  body: (s: PgSetup, server: ShapeServer) => Promise<void>,
  on?: PgCluster | string,
): Promise<void> {
  if (typeof on === 'string') {
    t.skip(on)
    return
  }
  const cluster = on ?? requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, ddl)
  const server = await startPgServer(s)
  try {
    await body(s, server)
  } finally {
    await server.close()
    await s.cleanup()
  }
}

/**
 * Connections committing random inserts, updates and deletes of ids 0..ids-1 in a tight loop
 * until stopped; a connection that fails (PostgreSQL restarting) reconnects.
 */
function writeLoad(db: string, connections: number, ids: number): { stop(): Promise<number> } {
  let stopped = false
  let commits = 0
  const loops = Array.from({ length: connections }, async (_, c) => {
    let random = 12_345 + c
    const next = () => {
      random = (Math.imul(random, 1_103_515_245) + 12_345) >>> 0
      return random
    }
    while (!stopped) {
      const client = new pg.Client({ connectionString: db })
      client.on('error', () => {})
      try {
        await client.connect()
        while (!stopped) {
          const id = next() % ids
          const kind = next() % 4
          if (kind === 0) await client.query('DELETE FROM items WHERE id = $1', [id])
          else {
            await client.query(
              'INSERT INTO items (id, v, grp) VALUES ($1, 1, $2) ON CONFLICT (id) DO UPDATE SET v = items.v + 1, grp = $2',
              [id, next() % 10],
            )
          }
          commits++
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50))
      } finally {
        await client.end().catch(() => {})
      }
    }
  })
  return {
    async stop() {
      stopped = true
      await Promise.all(loops)
      return commits
    },
  }
}

const ITEMS_DDL = 'CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, grp int NOT NULL)'

/**
 * Commits a marker row and waits until the shape of every row shows it: every transaction
 * committed before the marker has then been applied (they apply in commit order). That shape
 * must exist before the marker (made by `watchAll`): one created after it would have the marker
 * in its snapshot and prove nothing.
 */
async function watchAll(serverUrl: string): Promise<void> {
  await readShape(serverUrl, { table: 'items' })
}

/** Every message of a shape's log, from -1 to up-to-date. */
async function shapeMessages(
  serverUrl: string,
  params: Record<string, string>,
): Promise<Array<{ headers: { txids?: number[]; control?: string } }>> {
  const all: Array<{ headers: { txids?: number[]; control?: string } }> = []
  let offset = '-1'
  let handle: string | undefined
  for (;;) {
    const query = new URLSearchParams({ ...params, offset, ...(handle === undefined ? {} : { handle }) })
    const res = await fetch(`${serverUrl}/v1/shape?${query}`)
    assert.equal(res.status, 200)
    handle = res.headers.get('electric-handle') ?? undefined
    offset = res.headers.get('electric-offset') ?? offset
    const messages = (await res.json()) as typeof all
    all.push(...messages)
    if (messages.some((message) => message.headers.control === 'up-to-date')) return all
  }
}

async function waitCaughtUp(serverUrl: () => string, db: string, marker: number): Promise<void> {
  await withClient(db, (client) =>
    client.query('INSERT INTO items (id, v, grp) VALUES ($1, 0, 0) ON CONFLICT (id) DO UPDATE SET v = 0', [marker]),
  )
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const { rows } = await readShape(serverUrl(), { table: 'items' })
      if (rows.has(`"public"."items"/"${marker}"`)) return
    } catch {
      // The server may be starting; retried.
    }
    if (Date.now() > deadline) throw new Error('the server did not catch up with Postgres')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A shape of `items`: its where clause and the same predicate on a SELECTed row. */
interface ItemsShape {
  readonly where: string
  matches(row: { id: string; grp: string }): boolean
}

/** `id >= min`, with `grp = group` too when a group is given (rows move in and out as grp changes). */
function itemsShape(min: number, group?: number): ItemsShape {
  return group === undefined
    ? { where: `id >= ${min}`, matches: (row) => Number(row.id) >= min }
    : { where: `grp = ${group} AND id >= ${min}`, matches: (row) => Number(row.grp) === group && Number(row.id) >= min }
}

/** The status of a read of `shape` from its start with `handle` (409: the handle must refetch). */
async function statusWithHandle(serverUrl: string, shape: ItemsShape, handle: string): Promise<number> {
  const query = new URLSearchParams({ table: 'items', where: shape.where, offset: '0_0', handle })
  const res = await fetch(`${serverUrl}/v1/shape?${query}`)
  await res.arrayBuffer()
  return res.status
}

/** Every shape's log equals a SELECT of its rows, each change applied exactly once. */
async function assertShapesMatch(serverUrl: string, db: string, shapes: readonly ItemsShape[]): Promise<void> {
  const table = await withClient(db, (client) =>
    client.query<{ id: string; v: string; grp: string }>('SELECT id::text, v::text, grp::text FROM items'),
  )
  for (const shape of shapes) {
    const { rows } = await readShape(serverUrl, { table: 'items', where: shape.where })
    const expected = new Map(
      table.rows.filter((row) => shape.matches(row)).map((row) => [`"public"."items"/"${row.id}"`, row]),
    )
    assert.equal(rows.size, expected.size, `${shape.where}: ${rows.size} rows, SELECT has ${expected.size}`)
    for (const [key, row] of expected) assert.deepEqual(rows.get(key), row, `${shape.where}: ${key}`)
  }
}

test('the official client syncs what SQL writes: initial rows, live inserts, updates, deletes; a where shape sees rows move in and out', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(
    cluster,
    `CREATE TABLE todos (id int PRIMARY KEY, title text, done bool, meta jsonb);
     INSERT INTO todos VALUES (1, 'one', false, '{"tags":["a"]}'), (2, 'two', true, null), (3, 'three', false, null);`,
  )
  const server = await startPgServer(s)
  const all = connect(server.url, { table: 'todos' })
  const open = connect(server.url, { table: 'todos', where: 'done = false' })
  try {
    assert.deepEqual(byId(await all.shape.rows), [
      { id: 1, title: 'one', done: false, meta: { tags: ['a'] } },
      { id: 2, title: 'two', done: true, meta: null },
      { id: 3, title: 'three', done: false, meta: null },
    ])
    assert.deepEqual(
      byId(await open.shape.rows).map((row) => row.id),
      [1, 3],
    )
    await withClient(s.db, async (client) => {
      await client.query("INSERT INTO todos VALUES (4, 'four', false, null)")
      await client.query('BEGIN')
      await client.query('UPDATE todos SET done = true WHERE id = 1') // moves out of `open`
      await client.query("UPDATE todos SET done = false, title = 'TWO' WHERE id = 2") // moves in
      await client.query('COMMIT')
      await client.query('DELETE FROM todos WHERE id = 3')
    })
    const expected = [
      { id: 1, title: 'one', done: true, meta: { tags: ['a'] } },
      { id: 2, title: 'TWO', done: false, meta: null },
      { id: 4, title: 'four', done: false, meta: null },
    ]
    await all.until((rows) => JSON.stringify(byId(rows)) === JSON.stringify(expected), 'the SQL changes')
    await open.until(
      (rows) => JSON.stringify(byId(rows).map((row) => row.id)) === JSON.stringify([2, 4]),
      'rows 2 and 4 only',
    )
    assert.deepEqual(all.errors, [])
    assert.deepEqual(open.errors, [])
  } finally {
    all.close()
    open.close()
    await server.close()
    await s.cleanup()
  }
})

test('jsonb scalars keep their JSON type, in the snapshot and replicated: a JSON string is not parsed again', {
  timeout: 60_000,
}, async (t) => {
  const values = `'"urgent"', '42', 'true', '"42"', '{"a":"b"}', '[1,"x"]', '"null"'`
  const ddl = `CREATE TABLE docs (id int PRIMARY KEY, j jsonb);
     INSERT INTO docs SELECT n, (ARRAY[${values}])[n]::jsonb FROM generate_series(1, 7) AS n;`
  await onPgServer(t, ddl, async (s, server) => {
    const docs = connect(server.url, { table: 'docs' })
    const expected = ['urgent', 42, true, '42', { a: 'b' }, [1, 'x'], 'null']
    try {
      assert.deepEqual(
        byId(await docs.shape.rows).map((row) => row.j),
        expected,
      )
      // Replicated: the same values again under ids 11-17 (an error here used to stop replication).
      await withClient(s.db, (client) =>
        client.query(`INSERT INTO docs SELECT n + 10, (ARRAY[${values}])[n]::jsonb FROM generate_series(1, 7) AS n`),
      )
      const both = JSON.stringify([...expected, ...expected])
      await docs.until((rows) => JSON.stringify(byId(rows).map((row) => row.j)) === both, 'the replicated jsonb values')
      assert.deepEqual(docs.errors, [])
    } finally {
      docs.close()
    }
  })
})

test("a change over the engine's limits rotates the shapes it concerns; replication goes on", {
  timeout: 60_000,
}, async (t) => {
  const ddl = "CREATE TABLE notes (id text PRIMARY KEY, body text); INSERT INTO notes VALUES ('a', 'x');"
  await onPgServer(t, ddl, async (s, server) => {
    const notes = connect(server.url, { table: 'notes' })
    try {
      assert.deepEqual(byId(await notes.shape.rows), [{ id: 'a', body: 'x' }])
      // A key over the engine's 4 KiB: the log item cannot be stored. It used to stop replication
      // for good (the transaction failed, and failed again at every replay).
      const longId = 'k'.repeat(5_000)
      await withClient(s.db, async (client) => {
        await client.query('INSERT INTO notes VALUES ($1, $2)', [longId, 'long'])
        await client.query("INSERT INTO notes VALUES ('b', 'after')")
      })
      await notes.until(
        (rows) => rows.length === 3 && rows.some((row) => row.id === 'b'),
        'the refetched shape with the long key, and the change after it',
      )
      assert.ok(
        notes.errors.every((error) => /409|must-refetch/i.test(String(error))),
        JSON.stringify(notes.errors),
      )
    } finally {
      notes.close()
    }
  })
})

test("an update that changes a row's key is a delete of the old row and an insert of the new one", {
  timeout: 60_000,
}, async (t) => {
  const ddl = "CREATE TABLE keyed (id int PRIMARY KEY, v text); INSERT INTO keyed VALUES (1, 'one'), (2, 'two');"
  await onPgServer(t, ddl, async (s, server) => {
    const all = connect(server.url, { table: 'keyed' })
    const first = connect(server.url, { table: 'keyed', where: 'id = 1' })
    try {
      assert.deepEqual(byId(await all.shape.rows), [
        { id: 1, v: 'one' },
        { id: 2, v: 'two' },
      ])
      assert.equal((await first.shape.rows).length, 1)
      await withClient(s.db, (client) => client.query("UPDATE keyed SET id = 100, v = 'hundred' WHERE id = 1"))
      const expected = JSON.stringify([
        { id: 2, v: 'two' },
        { id: 100, v: 'hundred' },
      ])
      await all.until((rows) => JSON.stringify(byId(rows)) === expected, 'row 1 gone, row 100 come')
      await first.until((rows) => rows.length === 0, 'row 1 gone from the id = 1 shape')
      assert.deepEqual([...all.errors, ...first.errors], [])
    } finally {
      all.close()
      first.close()
    }
  })
})

test('a table created while the server runs is set to REPLICA IDENTITY FULL when first asked for: rows move out of its where shapes', {
  timeout: 60_000,
}, async (t) => {
  await onPgServer(t, 'CREATE TABLE early (id int PRIMARY KEY)', async (s, server) => {
    // Created and written while the server streams: its relation message arrives before any request names it.
    await withClient(s.db, (client) =>
      client.query('CREATE TABLE late (id int PRIMARY KEY, v int); INSERT INTO late VALUES (1, 1), (2, 1)'),
    )
    await new Promise((resolve) => setTimeout(resolve, 500))
    const ones = connect(server.url, { table: 'late', where: 'v = 1' })
    try {
      assert.deepEqual(
        byId(await ones.shape.rows).map((row) => row.id),
        [1, 2],
      )
      await withClient(s.db, (client) => client.query('UPDATE late SET v = 2 WHERE id = 1'))
      await ones.until((rows) => rows.length === 1 && rows[0]?.id === 2, 'row 1 moved out')
      assert.deepEqual(ones.errors, [])
    } finally {
      ones.close()
    }
  })
})

test('a shape stops filtering at the first transaction that began after its snapshot, as Electric does; one in progress during it is appended', {
  timeout: 60_000,
}, async (t) => {
  await onPgServer(t, ITEMS_DDL, async (s, server) => {
    await withClient(s.db, async (inProgress) => {
      // Begun before the shape's snapshot and committed after it: in its xip list.
      await inProgress.query('BEGIN')
      await inProgress.query('INSERT INTO items VALUES (1, 0, 0)')
      const { handle } = await readShape(server.url, { table: 'items' })
      assert.equal(server.engine.fetchPgSnapshot(handle)?.filterTxns, true)
      await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (2, 0, 0)'))
      await inProgress.query('COMMIT')
      await waitCaughtUp(() => server.url, s.db, 3)
      // Left on, a 32-bit xid compared with this snapshot would look visible again 2^31
      // transactions later, and every change to the shape would be dropped.
      assert.equal(server.engine.fetchPgSnapshot(handle)?.filterTxns, false)
      const { rows } = await readShape(server.url, { table: 'items' })
      assert.deepEqual(
        [...rows.keys()].sort(),
        ['1', '2', '3'].map((id) => `"public"."items"/"${id}"`),
      )
    })
  })
})

test('past xid and oid 2^31: a transaction in progress during a snapshot is appended, txids are the unsigned xids, the table keeps its shapes', {
  timeout: 90_000,
}, async (t) => {
  // pgoutput's xids are unsigned 32-bit; read as signed, every xid from 2^31 on came through
  // negative, never matched the snapshot's in-progress list (the transaction counted as seen:
  // its rows were dropped) and went to clients as negative txids. Half of every 2^32 cycle.
  // Just past 2^31: initdb's own catalog rows (xids ~700) must stay in the past.
  const cluster = ownPgClusterAt(2 ** 31 + 200)
  await onPgServer(
    t,
    ITEMS_DDL,
    async (s, server) => {
      await withClient(s.db, async (inProgress) => {
        await inProgress.query('BEGIN')
        await inProgress.query('INSERT INTO items VALUES (1, 0, 0)')
        const xid = Number((await inProgress.query<{ xid: string }>('SELECT txid_current()::text AS xid')).rows[0]?.xid)
        assert.ok(xid >= 2 ** 31, `the cluster is past 2^31 (xid ${xid})`)
        // Committed after T1 took its xid: the snapshot then lists T1 as in progress (xip).
        await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (9, 0, 0)'))
        const { handle } = await readShape(server.url, { table: 'items' })
        assert.deepEqual(server.engine.fetchPgSnapshot(handle)?.xipList, [xid])
        // T1 is the first to commit after the snapshot (a later transaction would switch the
        // shape's filtering off before T1 came).
        await inProgress.query('COMMIT')
        await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (2, 0, 0)'))
        await waitCaughtUp(() => server.url, s.db, 3)
        const { rows } = await readShape(server.url, { table: 'items' })
        assert.deepEqual(
          [...rows.keys()].sort(),
          ['1', '2', '3', '9'].map((id) => `"public"."items"/"${id}"`),
        )
        const oid = await withClient(s.db, (client) =>
          client.query<{ oid: string }>("SELECT 'items'::regclass::oid::text AS oid"),
        )
        assert.ok(Number(oid.rows[0]?.oid) >= 2 ** 31, `the table's oid is past 2^31 (${oid.rows[0]?.oid})`)
        const txids = (await shapeMessages(server.url, { table: 'items' })).flatMap((m) => m.headers.txids ?? [])
        assert.ok(txids.length === 3 && txids.every((txid) => txid >= 2 ** 31), `txids ${txids.join(', ')}`)
      })
      // Its relation messages and the catalog agree on the oid: a restart rotates nothing (read
      // signed from the catalog, it differed from what the last run saved, at every start).
      const { handle } = await readShape(server.url, { table: 'items' })
      await server.close()
      const restarted = await startPgServer(s)
      try {
        assert.equal((await readShape(restarted.url, { table: 'items' })).handle, handle)
      } finally {
        await restarted.close()
      }
    },
    cluster,
  )
})

test('a shape whose snapshot read is cut off before its COMMIT misses no transaction', {
  timeout: 60_000,
}, async (t) => {
  const ddl = `${ITEMS_DDL}; INSERT INTO items SELECT i, 0, 0 FROM generate_series(1, 20000) i`
  await onPgServer(t, ddl, async (s, server) => {
    // Rows of group -1 show when a transaction has been replicated: the first one loads the
    // table's shapes from the catalog (which would find the shape below even when not registered).
    const watcher = itemsShape(-10, -1)
    await readShape(server.url, { table: 'items', where: watcher.where })
    const replicated = async (id: number) => {
      await withClient(s.db, (client) => client.query('INSERT INTO items VALUES ($1, 0, -1)', [id]))
      const deadline = Date.now() + 30_000
      while (
        !(await readShape(server.url, { table: 'items', where: watcher.where })).rows.has(`"public"."items"/"${id}"`)
      ) {
        assert.ok(Date.now() < deadline, `insert ${id} was not replicated`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    await replicated(-7)
    // The snapshot's connection is killed while its read transaction is still open after the
    // SELECT (it used to stay open while the engine wrote the rows). That failed the request
    // after the shape was complete, and it was left out of the fanout until met again.
    let reading = true
    const killer = withClient(s.db, async (client) => {
      let killed = 0
      while (reading) {
        const result = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'idle in transaction' AND query LIKE 'SELECT * FROM%'`,
        )
        killed += result.rowCount ?? 0
      }
      return killed
    })
    const target = itemsShape(-10)
    const query = new URLSearchParams({ table: 'items', where: target.where, offset: '-1' })
    const first = await fetch(`${server.url}/v1/shape?${query}`)
    await first.arrayBuffer()
    reading = false
    t.diagnostic(`first request: ${first.status}, snapshot connections killed: ${await killer}`)
    await replicated(-5)
    await assertShapesMatch(server.url, s.db, [target])
  })
})

test('the replication connection outlives a shape creation that holds the queue past wal_sender_timeout', {
  timeout: 60_000,
}, async (t) => {
  const ddl = `${ITEMS_DDL}; CREATE TABLE other (id int PRIMARY KEY);
    DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET wal_sender_timeout = %L', current_database(), '1s'); END $$`
  await onPgServer(t, ddl, async (s, server) => {
    const reconnects = async () =>
      ((await (await fetch(`${server.url}/v1/stats`)).json()) as { replication: { reconnects: number } }).replication
        .reconnects
    await readShape(server.url, { table: 'other' })
    const before = await reconnects()
    await withClient(s.db, async (locker) => {
      // The new shape's snapshot waits for this lock, holding the queue; a replicated
      // transaction waits behind it, and with it the replication stream (paused while a
      // message is handled), which then read no keepalive for 3 s.
      await locker.query('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE')
      const creating = readShape(server.url, { table: 'items' })
      await new Promise((resolve) => setTimeout(resolve, 200))
      await withClient(s.db, (client) => client.query('INSERT INTO other VALUES (1)'))
      await new Promise((resolve) => setTimeout(resolve, 3_000))
      await locker.query('COMMIT')
      await creating
    })
    await withClient(s.db, (client) => client.query('INSERT INTO other VALUES (2)'))
    const deadline = Date.now() + 30_000
    while ((await readShape(server.url, { table: 'other' })).rows.size < 2) {
      assert.ok(Date.now() < deadline, 'the inserts were not replicated')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.equal(await reconnects(), before, 'the replication connection was lost')
  })
})

test('bigint columns stay exact past 2^53: ids, values and where-clauses on them', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  // As float8 these two ids are one number (2^53): two rows under one key.
  const a = 9_007_199_254_740_992n
  const b = a + 1n
  const s = await setup(
    cluster,
    `CREATE TABLE big (id bigint PRIMARY KEY, n bigint);
     INSERT INTO big VALUES (${a}, ${a}), (${b}, -1);`,
  )
  const server = await startPgServer(s)
  const all = connect(server.url, { table: 'big' })
  const above = connect(server.url, { table: 'big', where: `n > ${a}` })
  try {
    const rows = await all.shape.rows
    assert.deepEqual(rows.map((row) => row.id).sort(), [a, b])
    assert.deepEqual(await above.shape.rows, [])
    await withClient(s.db, (client) => client.query(`UPDATE big SET n = ${b} WHERE id = ${b}`)) // moves in
    await above.until((live) => live.length === 1 && live[0]?.id === b && live[0]?.n === b, `row ${b} with n = ${b}`)
    const { rows: raw } = await readShape(server.url, { table: 'big' })
    assert.deepEqual([...raw.keys()].sort(), [`"public"."big"/"${a}"`, `"public"."big"/"${b}"`])
    assert.deepEqual(all.errors, [])
    assert.deepEqual(above.errors, [])
  } finally {
    all.close()
    above.close()
    await server.close()
    await s.cleanup()
  }
})

test('numeric columns are served as numeric, exactly as Postgres prints them: ids, values and where-clauses on them', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  // As float8 these two ids are one number (the double nearest 0.1 is b): two rows under one key.
  const a = '0.1'
  const b = '0.1000000000000000055511151231257827'
  const big = '12345678901234567890.12345' // float8 prints 12345678901234567000
  const s = await setup(
    cluster,
    `CREATE TABLE dec (id numeric PRIMARY KEY, n numeric);
     INSERT INTO dec VALUES (${a}, ${big}), (${b}, 0.10), (3, 'NaN'), (4, 'Infinity'), (5, '-Infinity'), (6, NULL), (7, 1.10);`,
  )
  const server = await startPgServer(s)
  const all = connect(server.url, { table: 'dec' })
  // float8 rounds b to 0.1, so it would never see row 6 move in below.
  const above = connect(server.url, { table: 'dec', where: 'n > 0.1' })
  try {
    // The official client has no parser for numeric (its defaultParser): values stay Postgres's text.
    const rows = byText(await all.shape.rows)
    assert.deepEqual(rows, [
      { id: '0.1', n: big },
      { id: b, n: '0.10' },
      { id: '3', n: 'NaN' },
      { id: '4', n: 'Infinity' },
      { id: '5', n: '-Infinity' },
      { id: '6', n: null },
      { id: '7', n: '1.10' },
    ])
    // NaN and Infinity are above every number in Postgres's numeric order.
    assert.deepEqual(
      byText(await above.shape.rows).map((row) => row.id),
      ['0.1', '3', '4', '7'],
    )
    const res = await fetch(`${server.url}/v1/shape?table=dec&offset=-1`)
    await res.arrayBuffer()
    assert.deepEqual(JSON.parse(res.headers.get('electric-schema') ?? ''), {
      id: { type: 'numeric', pk_index: 0, not_null: true },
      n: { type: 'numeric' },
    })
    await withClient(s.db, (client) => client.query(`UPDATE dec SET n = ${b} WHERE id = 6`)) // moves in
    await above.until((live) => live.some((row) => row.id === '6' && row.n === b), `row 6 moving in with n = ${b}`)
    await withClient(s.db, (client) => client.query('UPDATE dec SET n = 0.1000 WHERE id = 6')) // moves out
    await above.until((live) => !live.some((row) => row.id === '6'), 'row 6 moving out')
    await all.until((live) => live.some((row) => row.id === '6' && row.n === '0.1000'), 'n = 0.1000 as printed')
    // The where subset against Postgres's own WHERE on the same rows: scale, NaN and ±Infinity.
    const clauses = [
      'n > 0.1',
      'n = 0.1',
      `n < ${b}`,
      'n = 1.1',
      "n >= 'Infinity'",
      "n < '-inf'",
      "n IN (1.1, 'NaN')",
      "n <> 'NaN'",
      'n > 12345678901234567890.123449',
      `id = ${b}`,
      'id <= 0.1',
    ]
    const { rows: keys } = await readShape(server.url, { table: 'dec' })
    assert.equal(keys.size, 7)
    for (const where of clauses) {
      const { rows: shape } = await readShape(server.url, { table: 'dec', where })
      const selected = await withClient(s.db, (client) =>
        client.query<{ id: string }>(`SELECT id::text AS id FROM dec WHERE ${where}`),
      )
      const expected = selected.rows.map((row) => `"public"."dec"/"${row.id}"`).sort()
      assert.deepEqual([...shape.keys()].sort(), expected, where)
    }
    assert.deepEqual(all.errors, [])
    assert.deepEqual(above.errors, [])
  } finally {
    all.close()
    above.close()
    await server.close()
    await s.cleanup()
  }
})

test('numeric(p, s) columns carry their precision and scale in the schema header; a new typmod rotates the shape', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(
    cluster,
    `CREATE TABLE prices (id int PRIMARY KEY, amount numeric(10, 2), rounded numeric(3, -1), free numeric);
     INSERT INTO prices VALUES (1, 12.5, 120, 7);`,
  )
  const server = await startPgServer(s)
  const head = async () => {
    const res = await fetch(`${server.url}/v1/shape?table=prices&offset=-1`)
    await res.arrayBuffer()
    return { handle: res.headers.get('electric-handle'), schema: JSON.parse(res.headers.get('electric-schema') ?? '') }
  }
  try {
    const first = await head()
    assert.deepEqual(first.schema, {
      id: { type: 'float8', pk_index: 0, not_null: true },
      amount: { type: 'numeric', precision: 10, scale: 2 },
      rounded: { type: 'numeric', precision: 3, scale: -1 }, // a negative scale: Postgres 15
      free: { type: 'numeric' },
    })
    // The relation message replicated with the next change carries the new typmod.
    await withClient(s.db, (client) =>
      client.query(
        'ALTER TABLE prices ALTER COLUMN amount TYPE numeric(12, 2); INSERT INTO prices VALUES (2, 1, 10, 1)',
      ),
    )
    const deadline = Date.now() + 10_000
    let now = await head()
    while (now.handle === first.handle && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      now = await head()
    }
    assert.notEqual(now.handle, first.handle, 'the shape rotated')
    assert.deepEqual(now.schema.amount, { type: 'numeric', precision: 12, scale: 2 })
  } finally {
    await server.close()
    await s.cleanup()
  }
})

/** Rows of text columns in id order (numeric ids are strings: compared as numbers here). */
function byText(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return [...rows].sort((x, y) => Number(x.id) - Number(y.id) || String(x.id).length - String(y.id).length)
}

test('shapes created while other connections commit in a tight loop get every change exactly once (100 trials)', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, ITEMS_DDL)
  const server = await startPgServer(s)
  await watchAll(server.url)
  const load = writeLoad(s.db, 3, 300)
  const shapes: ItemsShape[] = []
  try {
    // Each trial is a new shape whose snapshot is taken while transactions commit around it.
    for (let trial = 0; trial < 100; trial++) {
      const shape = trial % 2 === 0 ? itemsShape(trial) : itemsShape(trial, trial % 10)
      shapes.push(shape)
      await readShape(server.url, { table: 'items', where: shape.where })
    }
    const commits = await load.stop()
    await waitCaughtUp(() => server.url, s.db, 1_000_000)
    t.diagnostic(`${shapes.length} shapes created during ${commits} concurrent commits`)
    assert.ok(commits > 100, 'the load committed while the shapes were made')
    await assertShapesMatch(server.url, s.db, shapes)
  } finally {
    await load.stop()
    await server.close()
    await s.cleanup()
  }
})

test('SIGKILL of the server mid-stream, then a restart: every committed row exactly once in every shape', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, ITEMS_DDL)
  const args = ['--pg', s.db, '--slot', s.slot]
  let server = await spawnServer(s.dir, 0, 1, args)
  const shapes = [itemsShape(0), itemsShape(0, 3), itemsShape(0, 7), itemsShape(150)]
  await watchAll(server.url)
  const load = writeLoad(s.db, 3, 300)
  try {
    for (const shape of shapes) await readShape(server.url, { table: 'items', where: shape.where })
    // Let the stream run, watching the slot: its confirmed position must keep moving (WAL freed).
    const confirmed: number[] = []
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      confirmed.push(await confirmedFlush(cluster.url, s.slot))
    }
    await server.kill('SIGKILL')
    const confirmedAtKill = await confirmedFlush(cluster.url, s.slot)
    await new Promise((resolve) => setTimeout(resolve, 300)) // commits go on with no server
    const commits = await load.stop()
    server = await spawnServer(s.dir, server.port, 1, args)
    await waitCaughtUp(() => server.url, s.db, 1_000_000)
    t.diagnostic(`${commits} commits; slot confirmed ${confirmed.join(', ')}; at the kill ${confirmedAtKill}`)
    assert.ok((confirmed.at(-1) as number) > (confirmed[0] as number), 'the slot advanced while streaming')
    // Had the slot been confirmed past what the engine persisted, the restart would resume
    // after changes the shapes never got: the comparison would find them missing.
    await assertShapesMatch(server.url, s.db, shapes)
  } finally {
    await load.stop()
    await server.kill('SIGTERM')
    await s.cleanup()
  }
})

test('PostgreSQL restarted under load: the server reconnects and resumes; nothing lost or doubled', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, ITEMS_DDL)
  const server = await startPgServer(s)
  const shapes = [itemsShape(0), itemsShape(0, 1), itemsShape(200)]
  await watchAll(server.url)
  const load = writeLoad(s.db, 2, 300)
  try {
    for (const shape of shapes) await readShape(server.url, { table: 'items', where: shape.where })
    await new Promise((resolve) => setTimeout(resolve, 300))
    await restartPg(cluster)
    // Clients are served from the engine while Postgres is away or back.
    await readShape(server.url, { table: 'items', where: 'grp = 1 AND id >= 0' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const commits = await load.stop()
    await waitCaughtUp(() => server.url, s.db, 1_000_000)
    const stats = (await (await fetch(`${server.url}/v1/stats`)).json()) as { replication: { reconnects: number } }
    t.diagnostic(`${commits} commits; ${stats.replication.reconnects} reconnects`)
    assert.ok(stats.replication.reconnects >= 1, 'the follower reconnected')
    await assertShapesMatch(server.url, s.db, shapes)
  } finally {
    await load.stop()
    await server.close()
    await s.cleanup()
  }
})

test('a table altered while the server was down rotates its shapes at the next start; an untouched one keeps them', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const ddl = `${ITEMS_DDL}; INSERT INTO items VALUES (1, 0, 0); CREATE TABLE other (id int PRIMARY KEY)`
  const s = await setup(cluster, ddl)
  let server = await startPgServer(s)
  try {
    const items = await readShape(server.url, { table: 'items' })
    const other = await readShape(server.url, { table: 'other' })
    await server.close()
    // DDL is not replicated, and no change to the table follows it: no relation message will come.
    await withClient(s.db, (client) => client.query("ALTER TABLE items ADD COLUMN note text DEFAULT 'n'"))
    server = await startPgServer(s)
    const query = new URLSearchParams({ table: 'items', offset: '0_0', handle: items.handle })
    const res = await fetch(`${server.url}/v1/shape?${query}`)
    await res.arrayBuffer()
    assert.equal(res.status, 409, 'the old handle must refetch')
    const after = await readShape(server.url, { table: 'items' })
    assert.deepEqual([...after.rows.values()], [{ id: '1', v: '0', grp: '0', note: 'n' }])
    assert.equal((await readShape(server.url, { table: 'other' })).handle, other.handle)
  } finally {
    await server.close()
    await s.cleanup()
  }
})

test('a table dropped and created again under its name rotates its shapes, though its columns are the same', {
  timeout: 60_000,
}, async (t) => {
  await onPgServer(t, `${ITEMS_DDL}; INSERT INTO items VALUES (1, 0, 0)`, async (s, server) => {
    const before = await readShape(server.url, { table: 'items' })
    await withClient(s.db, (client) =>
      client.query(`DROP TABLE items; ${ITEMS_DDL}; INSERT INTO items VALUES (2, 0, 0)`),
    )
    const deadline = Date.now() + 30_000
    for (;;) {
      const { handle, rows } = await readShape(server.url, { table: 'items' })
      if (handle !== before.handle) {
        assert.deepEqual([...rows.keys()], ['"public"."items"/"2"'])
        break
      }
      assert.ok(Date.now() < deadline, 'the shape of the dropped table was not rotated')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    // The new table is given REPLICA IDENTITY FULL too: without it an update carries no old
    // row, and a row moving out of a where shape stayed in it.
    const group0 = { table: 'items', where: 'grp = 0' }
    assert.deepEqual([...(await readShape(server.url, group0)).rows.keys()], ['"public"."items"/"2"'])
    await withClient(s.db, (client) => client.query('UPDATE items SET grp = 1 WHERE id = 2'))
    await waitCaughtUp(() => server.url, s.db, 3)
    assert.deepEqual([...(await readShape(server.url, group0)).rows.keys()], ['"public"."items"/"3"'])
    const identity = await withClient(s.db, (client) =>
      client.query<{ r: string }>("SELECT relreplident AS r FROM pg_class WHERE oid = 'items'::regclass"),
    )
    assert.equal(identity.rows[0]?.r, 'f')
  })
})

test('a column whose Postgres type changes to one served alike (text to char(n)) rotates its shapes: the values change', {
  timeout: 60_000,
}, async (t) => {
  await onPgServer(
    t,
    `${ITEMS_DDL}; ALTER TABLE items ADD COLUMN code text; INSERT INTO items VALUES (1, 0, 0, 'ab')`,
    async (s, server) => {
      const before = await readShape(server.url, { table: 'items' })
      // Both are served as text; char(6) pads 'ab' to 'ab    '. The same handle kept 'ab'.
      await withClient(s.db, (client) => client.query('ALTER TABLE items ALTER COLUMN code TYPE char(6)'))
      await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (2, 0, 0, NULL)'))
      const deadline = Date.now() + 30_000
      for (;;) {
        const { handle, rows } = await readShape(server.url, { table: 'items' })
        if (handle !== before.handle) {
          assert.equal(rows.get('"public"."items"/"1"')?.code, 'ab    ')
          return
        }
        assert.ok(Date.now() < deadline, 'the shape was not rotated')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
  )
})

test('a publication that leaves out an operation or filters rows is refused at the start, saying how to fix it', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  for (const [publish, expected] of [
    [
      "CREATE PUBLICATION shapestore FOR ALL TABLES WITH (publish = 'insert, update, delete')",
      /does not publish truncate/,
    ],
    ['CREATE PUBLICATION shapestore FOR TABLE items WHERE (grp > 0)', /filters the rows of public\.items/],
  ] as const) {
    const s = await setup(cluster, `${ITEMS_DDL}; ${publish}`)
    try {
      // It started and served: a TRUNCATE never came, and every shape kept its rows.
      await assert.rejects(startPgServer(s), expected)
    } finally {
      await s.cleanup()
    }
  }
})

test('a table with a generated column keeps its shapes across restarts (pgoutput leaves the column out)', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const ddl = 'CREATE TABLE calc (id int PRIMARY KEY, v int, twice int GENERATED ALWAYS AS (v * 2) STORED)'
  const s = await setup(cluster, ddl)
  let server = await startPgServer(s)
  try {
    const before = await readShape(server.url, { table: 'calc' })
    await server.close()
    server = await startPgServer(s)
    await withClient(s.db, (client) => client.query('INSERT INTO calc (id, v) VALUES (1, 5)'))
    const deadline = Date.now() + 30_000
    for (;;) {
      const { handle, rows } = await readShape(server.url, { table: 'calc' })
      if (rows.size > 0) {
        assert.equal(handle, before.handle, 'the shape was rotated')
        assert.deepEqual([...rows.values()], [{ id: '1', v: '5' }])
        return
      }
      assert.ok(Date.now() < deadline, 'the insert was not replicated')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    await server.close()
    await s.cleanup()
  }
})

test('a slot dropped while the server was down is recreated, and every shape rotates: 409, then a snapshot with what was missed', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, `${ITEMS_DDL}; INSERT INTO items SELECT i, 0, 0 FROM generate_series(1, 3) i`)
  let server = await startPgServer(s)
  try {
    const shape = itemsShape(0)
    const before = await readShape(server.url, { table: 'items', where: shape.where })
    assert.equal(before.rows.size, 3)
    await server.close()
    await withClient(cluster.url, (client) => client.query('SELECT pg_drop_replication_slot($1)', [s.slot]))
    // Committed with no slot to keep it: no replication will ever deliver it.
    await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (4, 0, 0)'))
    server = await startPgServer(s)
    assert.equal(await statusWithHandle(server.url, shape, before.handle), 409, 'the old handle must refetch')
    const after = await readShape(server.url, { table: 'items', where: shape.where })
    assert.notEqual(after.handle, before.handle)
    await assertShapesMatch(server.url, s.db, [shape])
  } finally {
    await server.close()
    await s.cleanup()
  }
})

test('a slot Postgres invalidated while the server was down (max_slot_wal_keep_size) is recreated, and every shape rotates', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const ddl = `${ITEMS_DDL}; INSERT INTO items SELECT i, 0, 0 FROM generate_series(1, 3) i; CREATE TABLE junk (id int PRIMARY KEY, v text)`
  const s = await setup(cluster, ddl)
  let server = await startPgServer(s)
  try {
    const shape = itemsShape(0)
    const before = await readShape(server.url, { table: 'items', where: shape.where })
    await server.close()
    await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (4, 0, 0)'))
    // Past max_slot_wal_keep_size, a checkpoint removes WAL the slot still needs and invalidates
    // it (cluster-wide setting, restored at once).
    await withClient(cluster.url, async (admin) => {
      await admin.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
      await admin.query('SELECT pg_reload_conf()')
      try {
        await withClient(s.db, async (client) => {
          for (let segment = 0; segment < 4; segment++) {
            await client.query(
              "INSERT INTO junk SELECT i, repeat('x', 100) FROM generate_series($1::int, $1 + 999) i",
              [segment * 1_000],
            )
            await client.query('SELECT pg_switch_wal()')
          }
          await client.query('CHECKPOINT')
        })
      } finally {
        await admin.query('ALTER SYSTEM RESET max_slot_wal_keep_size')
        await admin.query('SELECT pg_reload_conf()')
      }
      const { rows } = await admin.query('SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [s.slot])
      assert.equal(rows[0]?.wal_status, 'lost', 'the slot was invalidated')
    })
    server = await startPgServer(s)
    assert.equal(await statusWithHandle(server.url, shape, before.handle), 409, 'the old handle must refetch')
    await assertShapesMatch(server.url, s.db, [shape])
    // And replication follows again from the new slot.
    await waitCaughtUp(() => server.url, s.db, 1_000)
  } finally {
    await server.close()
    await s.cleanup()
  }
})

test('a slot dropped while the server streams is recreated, and every shape rotates', async (t) => {
  const cluster = requirePg(t)
  if (cluster === undefined) return
  const s = await setup(cluster, `${ITEMS_DDL}; INSERT INTO items SELECT i, 0, 0 FROM generate_series(1, 3) i`)
  const server = await startPgServer(s)
  try {
    const shape = itemsShape(0)
    const before = await readShape(server.url, { table: 'items', where: shape.where })
    // End the server's walsender and drop its slot before the follower reconnects (it waits
    // 100 ms first): an active slot cannot be dropped.
    await withClient(cluster.url, async (client) => {
      await client.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [
        s.slot,
      ])
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query('SELECT pg_drop_replication_slot($1)', [s.slot])
          return
        } catch (error) {
          if (attempt > 200) throw error
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
      }
    })
    await withClient(s.db, (client) => client.query('INSERT INTO items VALUES (4, 0, 0)'))
    // The old handle must refetch once the server has noticed; then the shape has every row.
    const deadline = Date.now() + 30_000
    for (;;) {
      const status = await statusWithHandle(server.url, shape, before.handle)
      if (status === 409) break
      if (Date.now() > deadline) throw new Error(`the shape was never rotated (${status})`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await watchAll(server.url) // made after the rotation, which removed every shape
    await waitCaughtUp(() => server.url, s.db, 1_000_000)
    await assertShapesMatch(server.url, s.db, [shape])
  } finally {
    await server.close()
    await s.cleanup()
  }
})
