/**
 * End to end with the official client (`@electric-sql/client` 1.5.28, ShapeStream + Shape) in
 * Node against the server in this process: initial sync with typed values, live updates, where
 * filtering (moves in and out), column selection, a 409 after the shape is removed, and a
 * schema change rotating the shape. Each test has its own table, so the client's module-level
 * caches (keyed by URL) never mix tests.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type ShapeServer, startShapeServer } from '../src/index.ts'
import { byId, connect, startTestServer, tempDir, write, writeOk } from './helpers.ts'

let server: ShapeServer
let cleanup: () => void

before(async () => {
  const temp = tempDir()
  cleanup = temp.cleanup
  server = await startTestServer(temp.dir)
})

after(async () => {
  await server.close()
  cleanup()
})

test('initial sync: rows arrive with the types the schema header gives them', async () => {
  await writeOk(server.url, 'todos', [
    { op: 'insert', row: { id: 1, title: 'one', done: false, meta: { tags: ['a'] } } },
    { op: 'insert', row: { id: 2, title: 'two', done: true, meta: null } },
    { op: 'insert', row: { id: 3, title: "it's three", done: false } },
  ])
  const client = connect(server.url, { table: 'todos' })
  try {
    const rows = byId(await client.shape.rows)
    assert.deepEqual(rows, [
      { id: 1, title: 'one', done: false, meta: { tags: ['a'] } },
      { id: 2, title: 'two', done: true, meta: null },
      { id: 3, title: "it's three", done: false, meta: null },
    ])
    assert.deepEqual(client.errors, [])
    // The first request is offset=-1 without a handle; every later one carries the handle.
    assert.equal(client.requests[0]?.searchParams.get('offset'), '-1')
    assert.ok(client.requests.slice(1).every((url) => url.searchParams.get('handle') === client.stream.shapeHandle))
  } finally {
    client.close()
  }
})

test('live: inserts, updates and deletes written after the sync reach the client', async () => {
  await writeOk(server.url, 'live_items', [{ op: 'insert', row: { id: 1, title: 'a', n: 1 } }])
  const client = connect(server.url, { table: 'live_items' })
  try {
    await client.shape.rows
    await writeOk(server.url, 'live_items', [
      { op: 'update', row: { id: 1, n: 2 } },
      { op: 'insert', row: { id: 2, title: 'b', n: 5 } },
    ])
    const rows = await client.until((rows) => rows.length === 2 && rows.some((r) => r.n === 2), 'update + insert')
    assert.deepEqual(byId(rows), [
      { id: 1, title: 'a', n: 2 },
      { id: 2, title: 'b', n: 5 },
    ])
    await writeOk(server.url, 'live_items', [{ op: 'delete', row: { id: 1 } }])
    const afterDelete = await client.until((rows) => rows.length === 1, 'the delete')
    assert.deepEqual(afterDelete, [{ id: 2, title: 'b', n: 5 }])
    // The update arrived as Electric sends it with replica=default: the key and the changed column.
    const update = client.messages.find((m) => 'headers' in m && m.headers.operation === 'update')
    assert.ok(update !== undefined && 'value' in update)
    assert.deepEqual(update.value, { id: 1, n: 2 })
    assert.ok(client.requests.some((url) => url.searchParams.get('live') === 'true'))
    assert.deepEqual(client.errors, [])
  } finally {
    client.close()
  }
})

test('where: only matching rows; rows moving in and out arrive as inserts and deletes', async () => {
  await writeOk(server.url, 'tasks', [
    { op: 'insert', row: { id: 1, status: 'open', prio: 1 } },
    { op: 'insert', row: { id: 2, status: 'done', prio: 2 } },
    { op: 'insert', row: { id: 3, status: 'open', prio: 3 } },
  ])
  const client = connect(server.url, { table: 'tasks', where: "status = 'open' AND prio >= $1", params: { 1: '2' } })
  try {
    assert.deepEqual(await client.shape.rows, [{ id: 3, status: 'open', prio: 3 }])
    await writeOk(server.url, 'tasks', [
      { op: 'update', row: { id: 2, status: 'open' } }, // moves in
      { op: 'update', row: { id: 3, status: 'done' } }, // moves out
      { op: 'insert', row: { id: 4, status: 'open', prio: 0 } }, // never in
    ])
    const rows = await client.until((rows) => rows.length === 1 && rows[0]?.id === 2, 'row 2 in, row 3 out')
    assert.deepEqual(rows, [{ id: 2, status: 'open', prio: 2 }])
    const ops = client.messages.flatMap((m) => ('key' in m ? [[m.headers.operation, m.value.id]] : []))
    assert.deepEqual(ops, [
      ['insert', 3],
      ['insert', 2],
      ['delete', 3],
    ])
  } finally {
    client.close()
  }
})

test('columns: only the selected columns are sent', async () => {
  await writeOk(server.url, 'people', [{ op: 'insert', row: { id: 1, name: 'ann', secret: 'x' } }])
  const client = connect(server.url, { table: 'people', columns: ['id', 'name'] })
  try {
    assert.deepEqual(await client.shape.rows, [{ id: 1, name: 'ann' }])
    await writeOk(server.url, 'people', [{ op: 'update', row: { id: 1, secret: 'y' } }])
    await writeOk(server.url, 'people', [{ op: 'update', row: { id: 1, name: 'bob' } }])
    assert.deepEqual(await client.until((rows) => rows[0]?.name === 'bob', 'the rename'), [{ id: 1, name: 'bob' }])
    // The update of the unselected column was nothing to this shape.
    assert.equal(client.messages.filter((m) => 'key' in m && m.headers.operation === 'update').length, 1)
  } finally {
    client.close()
  }
})

test('409 after removal: the client refetches under a new handle and keeps syncing', async () => {
  await writeOk(server.url, 'removable', [{ op: 'insert', row: { id: 1, v: 'a' } }])
  const client = connect(server.url, { table: 'removable' })
  try {
    await client.shape.rows
    const oldHandle = client.stream.shapeHandle
    assert.ok(oldHandle !== undefined)
    const removed = await fetch(`${server.url}/v1/shape?table=removable&handle=${oldHandle}`, { method: 'DELETE' })
    assert.equal(removed.status, 202)
    await writeOk(server.url, 'removable', [{ op: 'insert', row: { id: 2, v: 'b' } }])
    const rows = await client.until((rows) => rows.length === 2, 'the resync after the 409')
    assert.deepEqual(byId(rows), [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ])
    assert.notEqual(client.stream.shapeHandle, oldHandle)
    assert.ok(client.messages.some((m) => 'headers' in m && m.headers.control === 'must-refetch'))
    const refetch = client.requests.find((url) => url.searchParams.get('expired_handle') === oldHandle)
    assert.ok(refetch !== undefined, 'the client refetched with expired_handle (an unknown param the server ignores)')
    assert.deepEqual(client.errors, [])
  } finally {
    client.close()
  }
})

test('a write adding a column rotates the shapes of its table: clients resync with the new schema', async () => {
  await writeOk(server.url, 'evolving', [{ op: 'insert', row: { id: 1, a: 'x' } }])
  const client = connect(server.url, { table: 'evolving' })
  try {
    await client.shape.rows
    await writeOk(server.url, 'evolving', [{ op: 'insert', row: { id: 2, a: 'y', b: 7 } }])
    const rows = await client.until((rows) => rows.length === 2, 'the resync')
    assert.deepEqual(byId(rows), [
      { id: 1, a: 'x', b: null },
      { id: 2, a: 'y', b: 7 },
    ])
  } finally {
    client.close()
  }
})

test('non-ASCII column names and values survive the schema header and the body', async () => {
  await writeOk(server.url, 'unicode', [{ op: 'insert', row: { id: 1, 名前: 'ñandú 🦤', Größe: 2 } }])
  const client = connect(server.url, { table: 'unicode' })
  try {
    assert.deepEqual(await client.shape.rows, [{ id: 1, 名前: 'ñandú 🦤', Größe: 2 }])
  } finally {
    client.close()
  }
})

test('a snapshot and a log of many chunks: the client follows (and prefetches) every chunk', async () => {
  const temp = tempDir()
  const chunked = await startShapeServer({
    dir: temp.dir,
    writers: 1,
    longPollTimeoutMs: 400,
    chunkBytesThreshold: 600,
  })
  try {
    const rows = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ op: 'insert' as const, row: { id: from + i, pad: 'y'.repeat(80) } }))
    await writeOk(chunked.url, 'many', rows(0, 60))
    const client = connect(chunked.url, { table: 'many' })
    try {
      assert.equal((await client.shape.rows).length, 60)
      const offsets = new Set(client.requests.map((url) => url.searchParams.get('offset')))
      assert.ok(
        ['0_0', '0_1', '0_2'].every((offset) => offsets.has(offset)),
        `chunk offsets requested: ${[...offsets]}`,
      )
      // Each transaction closes a log chunk; a second stream of the same shape then catches up
      // through the snapshot chunks and the closed log chunks, non-live, one chunk per request.
      for (let tx = 0; tx < 5; tx++) await writeOk(chunked.url, 'many', rows(100 + tx * 10, 10))
      await client.until((r) => r.length === 110, 'the live inserts')
      const late = connect(chunked.url, { table: 'many' })
      try {
        assert.equal((await late.shape.rows).length, 110)
        const catchUp = late.requests.filter((url) => /^[1-9]\d*_\d+$/.test(url.searchParams.get('offset') ?? ''))
        assert.ok(
          catchUp.filter((url) => url.searchParams.get('live') !== 'true').length >= 4,
          `non-live log requests: ${catchUp.map((url) => url.searchParams.get('offset'))}`,
        )
      } finally {
        late.close()
      }
    } finally {
      client.close()
    }
  } finally {
    await chunked.close()
    temp.cleanup()
  }
})

test('writes: a bad transaction is rejected whole and changes nothing', async () => {
  await writeOk(server.url, 'strict', [{ op: 'insert', row: { id: 1, n: 1 } }])
  const duplicate = await write(server.url, 'strict', [
    { op: 'insert', row: { id: 2, n: 2 } },
    { op: 'insert', row: { id: 1, n: 3 } },
  ])
  assert.equal(duplicate.status, 409)
  assert.deepEqual(duplicate.body, { message: 'Conflict', errors: { 'ops[1]': ['a row with id 1 already exists'] } })
  const wrongType = await write(server.url, 'strict', [{ op: 'update', row: { id: 1, n: 'text' } }])
  assert.equal(wrongType.status, 400)
  const noOps = await write(server.url, 'strict', [])
  assert.equal(noOps.status, 400)
  const client = connect(server.url, { table: 'strict' })
  try {
    assert.deepEqual(await client.shape.rows, [{ id: 1, n: 1 }])
  } finally {
    client.close()
  }
})
