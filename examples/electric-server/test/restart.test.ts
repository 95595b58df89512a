/**
 * Restarts, as Electric's crash-recovery test expects them: the server runs as its own process
 * (`src/main.ts`, what `pnpm example:server` starts), is killed with SIGKILL, and a new process
 * starts on the same directory and port. Clients resume with their handle and offset, without
 * a refetch, and offsets keep increasing across the restart. Also: a transaction committed to
 * the table store whose fanout a crash interrupted is fanned out at the next start.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Engine, openEngine } from '@shapestore/engine'
import { ShapeService } from '../src/shapes/shape-service.ts'
import { TableStore } from '../src/table/table-store.ts'
import { byId, connect, spawnServer, startTestServer, tempDir, writeOk } from './helpers.ts'

test('after a SIGKILL and a restart on the same directory, clients resume with their handle and offset', async () => {
  const { dir, cleanup } = tempDir()
  let server = await spawnServer(dir)
  const beforeKill = await writeOk(server.url, 'items', [
    { op: 'insert', row: { id: 1, title: 'one' } },
    { op: 'insert', row: { id: 2, title: 'two' } },
  ])
  const client = connect(server.url, { table: 'items' })
  try {
    await client.until((rows) => rows.length === 2, 'the initial rows')
    const handle = client.stream.shapeHandle
    const offset = client.stream.lastOffset
    const requestsBefore = client.requests.length

    await server.kill('SIGKILL')
    server = await spawnServer(dir, server.port)

    const afterRestart = await writeOk(server.url, 'items', [{ op: 'update', row: { id: 1, title: 'one!' } }])
    assert.ok(Number(afterRestart.split('_')[0]) > Number(beforeKill.split('_')[0]), 'offsets keep increasing')
    const rows = await client.until((rows) => rows.some((row) => row.title === 'one!'), 'the update after the restart')
    assert.deepEqual(byId(rows), [
      { id: 1, title: 'one!' },
      { id: 2, title: 'two' },
    ])
    assert.equal(client.stream.shapeHandle, handle)
    const later = client.requests.slice(requestsBefore)
    assert.ok(later.length > 0)
    assert.ok(
      later.every((url) => url.searchParams.get('offset') !== '-1' && url.searchParams.get('handle') === handle),
      `no refetch: ${later.map((url) => url.search).join(' ')}`,
    )
    assert.ok(!client.messages.some((m) => 'headers' in m && m.headers.control === 'must-refetch'))

    // A new stream given the saved handle and offset starts from there: only the later change.
    const resumed = connect(server.url, { table: 'items' }, { handle: handle as string, offset })
    try {
      await resumed.until(() => true, 'up-to-date')
      assert.equal(resumed.requests[0]?.searchParams.get('offset'), offset)
      const changes = resumed.messages.filter((m) => 'key' in m)
      assert.deepEqual(
        changes.map((m) => ('key' in m ? [m.headers.operation, m.value] : [])),
        [['update', { id: 1, title: 'one!' }]],
      )
    } finally {
      resumed.close()
    }
  } finally {
    client.close()
    await server.kill('SIGKILL')
    cleanup()
  }
})

test('a transaction committed but not fanned out (a crash in between) reaches the shapes at the next start', async () => {
  const { dir, cleanup } = tempDir()
  try {
    let server = await startTestServer(dir)
    await writeOk(server.url, 'items', [{ op: 'insert', row: { id: 1, v: 'a' } }])
    const client = connect(server.url, { table: 'items', where: "v <> 'z'" })
    let offset: string
    let handle: string
    try {
      await client.until((rows) => rows.length === 1, 'the snapshot')
      offset = client.stream.lastOffset
      handle = client.stream.shapeHandle as string
    } finally {
      client.close()
    }
    await server.close()

    // The crash window: the table store commits the transaction with its pending fanout record,
    // and the process dies before appending to any shape log.
    const tables = TableStore.open(dir)
    const engine = await openEngine({ dir: `${dir}/engine` })
    const schema = tables.schema('"public"."items"')
    assert.ok(schema !== undefined)
    tables.commit(
      '"public"."items"',
      schema,
      [{ op: 'insert', id: '2', before: null, after: { id: 2, v: 'b' } }],
      false,
    )
    assert.ok(tables.pending() !== undefined)
    await engine.close()
    await tables.close()

    server = await startTestServer(dir)
    try {
      const resumed = connect(server.url, { table: 'items', where: "v <> 'z'" }, { handle, offset })
      try {
        await resumed.until(() => true, 'up-to-date')
        const changes = resumed.messages.filter((m) => 'key' in m).map((m) => ('key' in m ? m.value : null))
        assert.deepEqual(changes, [{ id: 2, v: 'b' }])
      } finally {
        resumed.close()
      }
    } finally {
      await server.close()
    }
    // Finished: the record is gone, and finishing again appends nothing twice (appends are idempotent).
    const tables2 = TableStore.open(dir)
    assert.equal(tables2.pending(), undefined)
    await tables2.close()
  } finally {
    cleanup()
  }
})

/** Handles of the shapes afterInterruptedSnapshot leaves on table `items` (one row, id 1). */
interface Left {
  /** Where-less; its snapshot never completed. */
  readonly interrupted: string
  /** `id < -5`; its snapshot never completed. */
  readonly interruptedBelow: string
  /** `id > 0`, complete. */
  readonly complete: string
  /** `id < 0`, complete. */
  readonly completeBelow: string
}

/**
 * The crash window of a shape's creation: a shape is in the catalog, its snapshot never
 * completed. Runs `check` on a ShapeService opened after it (`Left`: two such shapes, two
 * complete ones).
 */
async function afterInterruptedSnapshot(
  check: (shapes: ShapeService, engine: Engine, left: Left) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = tempDir()
  try {
    const server = await startTestServer(dir)
    await writeOk(server.url, 'items', [{ op: 'insert', row: { id: 1, v: 'a' } }])
    const create = async (where: string) => {
      const res = await fetch(`${server.url}/v1/shape?table=items&offset=-1&where=${encodeURIComponent(where)}`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
      return res.headers.get('electric-handle') as string
    }
    const complete = await create('id > 0')
    const completeBelow = await create('id < 0')
    await server.close()
    const engine = await openEngine({ dir: `${dir}/engine` })
    // As the service's creation leaves them when it crashes before the snapshot completes.
    const interrupt = async (where?: string) => {
      const table = '"public"."items"'
      const { handle } = await engine.getOrCreateShape({
        table,
        ...(where === undefined ? {} : { where }),
        replica: 'default',
      })
      await engine.markSnapshotStarted(handle)
      return handle
    }
    const interrupted = await interrupt()
    const interruptedBelow = await interrupt('"id" < -5')
    await engine.close()

    const tables = TableStore.open(dir)
    const reopened = await openEngine({ dir: `${dir}/engine` })
    try {
      await check(await ShapeService.open(reopened, tables), reopened, {
        interrupted,
        interruptedBelow,
        complete,
        completeBelow,
      })
    } finally {
      await reopened.close()
      await tables.close()
    }
  } finally {
    cleanup()
  }
}

test('a shape whose snapshot a crash interrupted is removed when it is first met after the start (its clients get a 409)', () =>
  afterInterruptedSnapshot(async (shapes, engine, { interrupted }) => {
    // Nothing is read at the start: the shape is still in the catalog until a request meets it.
    assert.notEqual(engine.fetchShapeByHandle(interrupted), undefined)
    assert.equal(shapes.specOf(interrupted), undefined)
    const fresh = await shapes.getOrCreate(shapes.resolve({ table: 'items' }))
    assert.notEqual(fresh, interrupted)
    assert.equal(engine.fetchLatestOffset(fresh).toString(), '0_0')
    assert.equal(engine.fetchShapeByHandle(interrupted), undefined)
  }))

test('a request for a shape whose snapshot a crash interrupted gets a fresh shape with a complete snapshot', () =>
  afterInterruptedSnapshot(async (shapes, engine, { interrupted }) => {
    // Straight to creation, without a lookup first: the interrupted shape is replaced, not reused.
    const fresh = await shapes.getOrCreate(shapes.resolve({ table: 'items' }))
    assert.notEqual(fresh, interrupted)
    assert.equal(engine.fetchLatestOffset(fresh).toString(), '0_0')
    assert.equal(engine.fetchShapeByHandle(interrupted), undefined)
  }))

test("a write after the start loads the table's shapes without reading their keys; a shape is checked when a change or a request meets it", () =>
  afterInterruptedSnapshot(async (shapes, engine, left) => {
    const missesBefore = engine.stats().readPathMisses
    await shapes.write('items', { ops: [{ op: 'insert', row: { id: 2, v: 'b' } }] })
    // The row goes to the where-less interrupted shape and to `id > 0`, not to the two below
    // 0: only those two have their keys read.
    assert.equal(engine.stats().readPathMisses - missesBefore, 2)
    assert.equal(engine.fetchLatestOffset(left.complete).toString(), `${shapes.lastTx}_0`)
    // Its removal is queued behind the write (it has not run yet): nothing was appended to it.
    assert.equal(engine.fetchLatestOffset(left.interrupted).toString(), '0_inf')
    assert.equal(shapes.specOf(left.interrupted), undefined)
    // The two the row did not go to are checked when a request names them.
    const beforeRequests = engine.stats().readPathMisses
    assert.notEqual(shapes.specOf(left.completeBelow), undefined)
    assert.equal(shapes.specOf(left.interruptedBelow), undefined)
    assert.equal(engine.stats().readPathMisses - beforeRequests, 2, 'each checked by its keys, once')
    assert.equal(shapes.specOf(left.interruptedBelow), undefined, 'and it stays gone')
    await shapes.getOrCreate(shapes.resolve({ table: 'items', where: 'id > 1' }))
    assert.equal(engine.fetchShapeByHandle(left.interrupted), undefined)
    assert.equal(engine.fetchShapeByHandle(left.interruptedBelow), undefined)
    assert.notEqual(engine.fetchShapeByHandle(left.completeBelow), undefined)
  }))

test("after a restart a table's shapes are indexed by their stored where text: a write reaches exactly the shapes it concerns, and only those are read", async () => {
  const { dir, cleanup } = tempDir()
  try {
    const server = await startTestServer(dir)
    await writeOk(server.url, 'items', [
      { op: 'insert', row: { id: 1, v: 'b', n: 1, ok: true } },
      { op: 'insert', row: { id: 2, v: 'c', n: 3, ok: true } },
    ])
    const wheres = ["v = 'a'", "v = 'b'", "v = 'it''s'", 'n = 1', 'n = 2', 'ok = false', 'id > 100', 'n >= 3']
    const handles = new Map<string, string>()
    for (const where of wheres) {
      const res = await fetch(`${server.url}/v1/shape?table=items&offset=-1&where=${encodeURIComponent(where)}`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
      handles.set(where, res.headers.get('electric-handle') as string)
    }
    await server.close()

    const tables = TableStore.open(dir)
    const engine = await openEngine({ dir: `${dir}/engine` })
    try {
      const shapes = await ShapeService.open(engine, tables)
      const missesBefore = engine.stats().readPathMisses
      // A new row (v 'a', n 2, ok false) and row 1 moving from v 'b' to v 'it''s' (n, ok unchanged).
      await shapes.write('items', {
        ops: [
          { op: 'insert', row: { id: 5, v: 'a', n: 2, ok: false } },
          { op: 'update', row: { id: 1, v: "it's" } },
        ],
      })
      // Only the shapes the write went to had their keys read (whether their snapshot completed).
      const misses = engine.stats().readPathMisses - missesBefore
      const tx = shapes.lastTx
      const reached = wheres.filter((where) => engine.fetchLatestOffset(handles.get(where) as string).tx === tx)
      // v 'b' loses row 1 (a delete), v 'it''s' gains it, n = 1 keeps it (an update of v).
      assert.deepEqual(reached, ["v = 'a'", "v = 'b'", "v = 'it''s'", 'n = 1', 'n = 2', 'ok = false'])
      assert.equal(misses, reached.length)
    } finally {
      await engine.close()
      await tables.close()
    }
  } finally {
    cleanup()
  }
})
