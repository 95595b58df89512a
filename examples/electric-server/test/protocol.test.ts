/**
 * The protocol at the HTTP level, request by request, against Electric's rules (the protocol
 * reference, §1–§4): status codes and error bodies for bad requests, the headers every response
 * kind must and must not carry, chunk ends and up-to-date placement, the live hold and its
 * cursor, unknown parameters ignored, CORS.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { ShapeServer } from '../src/index.ts'
import { startTestServer, TEST_LONG_POLL_MS, tempDir, writeOk } from './helpers.ts'

let server: ShapeServer
let cleanup: () => void

before(async () => {
  const temp = tempDir()
  cleanup = temp.cleanup
  server = await startTestServer(temp.dir)
  await writeOk(server.url, 'items', [
    { op: 'insert', row: { id: 1, title: 'one', done: false } },
    { op: 'insert', row: { id: 2, title: 'two', done: true } },
  ])
})

after(async () => {
  await server.close()
  cleanup()
})

async function get(query: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(`${server.url}/v1/shape?${query}`, init)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body }
}

function invalid(errors: Record<string, string[]>) {
  return { message: 'Invalid request', errors }
}

/** Syncs `query` from -1 to up-to-date; returns the handle, the final offset and every message. */
async function syncToHead(query: string): Promise<{ handle: string; offset: string; messages: unknown[] }> {
  const first = await get(`${query}&offset=-1`)
  assert.equal(first.status, 200)
  const handle = first.headers.get('electric-handle') as string
  let offset = first.headers.get('electric-offset') as string
  const messages = [...(first.body as unknown[])]
  for (let i = 0; i < 100; i++) {
    const next = await get(`${query}&offset=${offset}&handle=${handle}`)
    assert.equal(next.status, 200)
    messages.push(...(next.body as unknown[]))
    offset = next.headers.get('electric-offset') as string
    if (next.headers.has('electric-up-to-date')) return { handle, offset, messages }
  }
  throw new Error('never reached up-to-date')
}

/** A body of only an up-to-date control message, whose global_last_seen_lsn is a decimal string. */
function assertOnlyUpToDate(body: unknown): void {
  assert.ok(Array.isArray(body) && body.length === 1, JSON.stringify(body))
  const [message] = body as [{ headers: { control: string; global_last_seen_lsn: string } }]
  assert.equal(message.headers.control, 'up-to-date')
  assert.match(message.headers.global_last_seen_lsn, /^\d+$/)
}

test('offset=-1: the snapshot with handle, offset, schema; no cursor and no up-to-date (Electric keeps it cacheable)', async () => {
  const res = await get('table=items&offset=-1')
  assert.equal(res.status, 200)
  assert.match(res.headers.get('electric-handle') ?? '', /^\d+-\d+$/)
  assert.equal(res.headers.get('electric-offset'), '0_0')
  assert.deepEqual(JSON.parse(res.headers.get('electric-schema') ?? ''), {
    id: { type: 'float8', pk_index: 0, not_null: true },
    title: { type: 'text' },
    done: { type: 'bool' },
  })
  assert.equal(res.headers.get('electric-cursor'), null)
  assert.equal(res.headers.get('electric-up-to-date'), null)
  assert.deepEqual(res.body, [
    {
      key: '"public"."items"/"1"',
      value: { id: '1', title: 'one', done: 'f' },
      headers: { operation: 'insert', relation: ['public', 'items'] },
    },
    {
      key: '"public"."items"/"2"',
      value: { id: '2', title: 'two', done: 't' },
      headers: { operation: 'insert', relation: ['public', 'items'] },
    },
  ])
  // The same definition is the same shape: a second -1 gets the same handle.
  const again = await get('table=items&offset=-1')
  assert.equal(again.headers.get('electric-handle'), res.headers.get('electric-handle'))
})

test('catch-up to the head ends with up-to-date, whose global_last_seen_lsn is a decimal string', async () => {
  const { handle, offset } = await syncToHead('table=items')
  const res = await get(`table=items&offset=${offset}&handle=${handle}`)
  assert.equal(res.status, 200)
  assertOnlyUpToDate(res.body)
  assert.equal(res.headers.get('electric-up-to-date'), '')
  assert.equal(res.headers.get('electric-offset'), offset)
  assert.ok(res.headers.has('electric-schema'))
  assert.equal(res.headers.get('electric-cursor'), null)
})

test('equivalent where clauses are one shape: the canonical text decides', async () => {
  const a = await get(`table=items&offset=-1&where=${encodeURIComponent("done = false AND title <> 'x'")}`)
  const b = await get(`table=items&offset=-1&where=${encodeURIComponent('(DONE=\'f\') and "title"!=$1')}&params[1]=x`)
  assert.equal(a.status, 200)
  assert.equal(b.headers.get('electric-handle'), a.headers.get('electric-handle'))
  assert.notEqual(a.headers.get('electric-handle'), (await get('table=items&offset=-1')).headers.get('electric-handle'))
})

test('unknown parameters are ignored (log, expired_handle, cache-buster, anything else)', async () => {
  const plain = await get('table=items&offset=-1')
  const noisy = await get('table=items&offset=-1&log=full&expired_handle=1-1&cache-buster=xyz&foo=bar&foo[x]=1')
  assert.equal(noisy.status, 200)
  assert.equal(noisy.headers.get('electric-handle'), plain.headers.get('electric-handle'))
  assert.deepEqual(noisy.body, plain.body)
})

test('bad parameters: 400 with Electric error bodies', async () => {
  const cases: Array<[string, Record<string, string[]>]> = [
    ['table=items', { offset: ["can't be blank"] }],
    ['table=items&offset=abc', { offset: ['has invalid format'] }],
    ['table=items&offset=1_x', { offset: ['has invalid format'] }],
    ['table=items&offset=0_0', { handle: ["can't be blank when offset != -1"] }],
    ['table=items&offset=-1&live=true', { live: ["can't be true when offset == -1"] }],
    ['table=items&offset=now&live=true', { live: ["can't be true when offset is 'now'"] }],
    ['table=items&offset=-1&live=maybe', { live: ['is invalid'] }],
    ['table=items&offset=-1&replica=half', { replica: ['is invalid'] }],
    ['offset=-1', { table: ["can't be blank"] }],
    ['table=nope&offset=-1', { table: ['Table "public"."nope" does not exist'] }],
    ['table=a.b.c&offset=-1', { table: ['shape.table is not [schema.]name: "a.b.c"'] }],
    [
      'table=items&offset=-1&where=title%20LIKE%20%27x%25%27',
      { where: ['expected a comparison operator, got "LIKE"'] },
    ],
    ['table=items&offset=-1&where=nope%20%3D%201', { where: ['unknown column "nope"'] }],
    ['table=items&offset=-1&where=title%20%3D%201', { where: ['cannot compare text column "title" with a number'] }],
    ['table=items&offset=-1&where=id%20%3D%20%241', { where: ['parameter $1 has no value (params[1])'] }],
    [
      'table=items&offset=-1&columns=title',
      { columns: ['The list of columns must include all primary key columns, missing: id'] },
    ],
    ['table=items&offset=-1&columns=id,nope', { columns: ['unknown column "nope"'] }],
  ]
  for (const [query, errors] of cases) {
    const res = await get(query)
    assert.equal(res.status, 400, query)
    assert.deepEqual(res.body, invalid(errors), query)
    assert.equal(res.headers.get('cache-control'), 'no-store', query)
  }
})

test('an unknown or stale handle: 409 must-refetch with the current handle', async () => {
  const current = (await get('table=items&offset=-1')).headers.get('electric-handle')
  for (const handle of ['123-456', 'not-a-handle']) {
    const res = await get(`table=items&offset=0_0&handle=${handle}`)
    assert.equal(res.status, 409)
    assert.equal(res.headers.get('electric-handle'), current)
    assert.deepEqual(res.body, [{ headers: { control: 'must-refetch' } }])
  }
  // A live request with a stale handle too, at once (not after a hold).
  const live = await get(`table=items&offset=0_0&handle=123-456&live=true&cursor=`)
  assert.equal(live.status, 409)
})

test('offset=-1 ignores a handle, even a stale one (the client sends it after a 409)', async () => {
  const res = await get('table=items&offset=-1&handle=123-456')
  assert.equal(res.status, 200)
})

test('offset beyond the latest: held half the long-poll window, then 400 out of bounds', async () => {
  const { handle } = await syncToHead('table=items')
  const res = await get(`table=items&offset=99999_0&handle=${handle}`)
  assert.equal(res.status, 400)
  assert.deepEqual(res.body, invalid({ offset: ['out of bounds for this shape'] }))
})

test('replica=full: updates carry the whole row and old_value, deletes the whole row', async () => {
  await writeOk(server.url, 'full_rows', [{ op: 'insert', row: { id: 1, a: 'x', b: 'y' } }])
  const { handle, offset } = await syncToHead('table=full_rows&replica=full')
  await writeOk(server.url, 'full_rows', [
    { op: 'update', row: { id: 1, a: 'x2' } },
    { op: 'delete', row: { id: 1 } },
  ])
  const res = await get(`table=full_rows&replica=full&offset=${offset}&handle=${handle}`)
  const [update, remove] = res.body as Array<{ value: unknown; old_value?: unknown; headers: { operation: string } }>
  assert.equal(update?.headers.operation, 'update')
  assert.deepEqual(update?.value, { id: '1', a: 'x2', b: 'y' })
  assert.deepEqual(update?.old_value, { a: 'x' })
  assert.equal(remove?.headers.operation, 'delete')
  assert.deepEqual(remove?.value, { id: '1', a: 'x2', b: 'y' })
})

test('an id written as -0 is the row 0, in its changes as in every later snapshot', async () => {
  const post = async (body: string) => {
    const res = await fetch(`${server.url}/v1/tables/negative_zero/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    assert.equal(res.status, 200, await res.text())
  }
  // Raw JSON: JSON.stringify writes -0 as 0. The store keeps -0 as 0, so the change's key was
  // "-0" and every later snapshot's "0": a delete of the row never reached their clients.
  await post('{"ops":[{"op":"insert","row":{"id":-0,"v":"a"}}]}')
  const { handle, offset, messages } = await syncToHead('table=negative_zero')
  const keys = (list: unknown[]) =>
    list.flatMap((m) => ((m as { key?: string }).key === undefined ? [] : [(m as { key: string }).key]))
  assert.deepEqual(keys(messages), ['"public"."negative_zero"/"0"'])
  await post('{"ops":[{"op":"update","row":{"id":-0,"v":"b"}},{"op":"delete","row":{"id":-0}}]}')
  const changes = await get(`table=negative_zero&offset=${offset}&handle=${handle}`)
  assert.deepEqual(keys(changes.body as unknown[]), ['"public"."negative_zero"/"0"', '"public"."negative_zero"/"0"'])
})

test('a column named like an Object method (constructor) is null in a row without it, in the snapshot and the where', async () => {
  await writeOk(server.url, 'methods', [
    { op: 'insert', row: { id: 'a', constructor: 'x' } },
    { op: 'insert', row: { id: 'b' } },
  ])
  const { messages } = await syncToHead('table=methods')
  const values = messages.flatMap((m) =>
    (m as { value?: unknown }).value === undefined ? [] : [(m as { value: unknown }).value],
  )
  assert.deepEqual(values, [
    { id: 'a', constructor: 'x' },
    { id: 'b', constructor: null },
  ])
  const nulls = await syncToHead(`table=methods&where=${encodeURIComponent('constructor IS NULL')}`)
  assert.deepEqual(
    nulls.messages.flatMap((m) => ((m as { key?: string }).key === undefined ? [] : [(m as { key: string }).key])),
    ['"public"."methods"/"b"'],
  )
})

test('a delete (or an update of no row) carrying a column the table lacks adds none: its shapes stay', async () => {
  await writeOk(server.url, 'deletes', [{ op: 'insert', row: { id: 1, v: 'a' } }])
  const { handle, offset } = await syncToHead('table=deletes')
  await writeOk(server.url, 'deletes', [
    { op: 'insert', row: { id: 2, v: 'b' } },
    { op: 'delete', row: { id: 1, junk: 'x' } },
    { op: 'update', row: { id: 3, other: 'y' } },
  ])
  // A column added to the schema rotates the table's shapes: this handle would be a 409.
  const res = await get(`table=deletes&offset=${offset}&handle=${handle}`)
  assert.equal(res.status, 200)
  const operations = (res.body as Array<{ headers: { operation?: string } }>).flatMap((m) =>
    m.headers.operation === undefined ? [] : [m.headers.operation],
  )
  assert.deepEqual(operations, ['insert', 'delete'])
})

test('offset=now: up-to-date at once with the latest offset', async () => {
  const { offset } = await syncToHead('table=items')
  const res = await get('table=items&offset=now')
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('electric-offset'), offset)
  assert.ok(res.headers.has('electric-schema'))
  assertOnlyUpToDate(res.body)
})

test('live: a hold that times out answers 200 [up-to-date] at the same offset with a cursor that moves', async () => {
  const { handle, offset } = await syncToHead('table=items')
  const first = await get(`table=items&offset=${offset}&handle=${handle}&live=true&cursor=`)
  assert.equal(first.status, 200)
  assertOnlyUpToDate(first.body)
  assert.equal(first.headers.get('electric-offset'), offset)
  assert.equal(first.headers.get('electric-schema'), null)
  const cursor = first.headers.get('electric-cursor')
  assert.match(cursor ?? '', /^\d+$/)
  const second = await get(`table=items&offset=${offset}&handle=${handle}&live=true&cursor=${cursor}`)
  assert.notEqual(second.headers.get('electric-cursor'), cursor)
  assert.ok(Number(second.headers.get('electric-cursor')) > Number(cursor))
})

test('live: a write during the hold answers with the change and up-to-date at the new offset', async () => {
  await writeOk(server.url, 'held', [{ op: 'insert', row: { id: 1, v: 'a' } }])
  const { handle, offset } = await syncToHead('table=held')
  const held = get(`table=held&offset=${offset}&handle=${handle}&live=true&cursor=`)
  // Unrelated tables never wake it; its own table does.
  await writeOk(server.url, 'items', [{ op: 'insert', row: { id: 100, title: 'x', done: false } }])
  const written = await writeOk(server.url, 'held', [{ op: 'update', row: { id: 1, v: 'b' } }])
  let res = await held
  // On a slow machine the hold may have timed out before the write: then the next live request
  // (as the client makes it) gets the change at once.
  if ((res.body as unknown[]).length === 1) {
    res = await get(
      `table=held&offset=${offset}&handle=${handle}&live=true&cursor=${res.headers.get('electric-cursor')}`,
    )
  }
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('electric-offset'), written)
  const [change, upToDate] = res.body as [Record<string, unknown>, unknown]
  const [tx] = written.split('_')
  assert.deepEqual(change, {
    key: '"public"."held"/"1"',
    value: { id: '1', v: 'b' },
    headers: {
      operation: 'update',
      relation: ['public', 'held'],
      lsn: tx,
      op_position: 0,
      txids: [Number(tx)],
      last: true,
    },
  })
  assert.deepEqual(upToDate, { headers: { control: 'up-to-date', global_last_seen_lsn: tx } })
  // The server timed its share: one live response carried this transaction.
  const stats = (await (await fetch(`${server.url}/v1/stats?tx=${tx}`)).json()) as { fanout: { responses: number } }
  assert.equal(stats.fanout.responses, 1)
})

test('live: a client that disconnects during the hold releases its wait on the server', {
  timeout: 10_000,
}, async () => {
  // A 30 s hold: the wait must go at the disconnect, not at the hold's end (the test's 10 s
  // timeout tells the two apart).
  const temp = tempDir()
  const { startShapeServer } = await import('../src/index.ts')
  const long = await startShapeServer({ dir: temp.dir, writers: 0, longPollTimeoutMs: 30_000 })
  try {
    await writeOk(long.url, 'items', [{ op: 'insert', row: { id: 1 } }])
    const first = await fetch(`${long.url}/v1/shape?table=items&offset=-1`)
    const handle = first.headers.get('electric-handle') as string
    const offset = first.headers.get('electric-offset') as string
    await first.text()
    const waiters = async () => ((await (await fetch(`${long.url}/v1/stats`)).json()) as { waiters: number }).waiters
    const controller = new AbortController()
    const held = fetch(`${long.url}/v1/shape?table=items&offset=${offset}&handle=${handle}&live=true&cursor=`, {
      signal: controller.signal,
    }).catch(() => 'aborted')
    while ((await waiters()) === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    assert.equal(await held, 'aborted')
    while ((await waiters()) !== 0) await new Promise((resolve) => setTimeout(resolve, 5))
  } finally {
    await long.close()
    temp.cleanup()
  }
})

test('a snapshot larger than one chunk is served in chunks 0_0, 0_1, … each ending where the next begins', async () => {
  const temp = tempDir()
  const small = await startShapeServerWithChunks(temp.dir)
  try {
    const rows = Array.from({ length: 20 }, (_, i) => ({ op: 'insert' as const, row: { id: i, pad: 'x'.repeat(100) } }))
    await writeOk(small.url, 'big', rows)
    let offset = '-1'
    let handle = ''
    const offsets: string[] = []
    const ids: number[] = []
    for (;;) {
      const res = await fetch(`${small.url}/v1/shape?table=big&offset=${offset}${handle ? `&handle=${handle}` : ''}`)
      const body = (await res.json()) as Array<{ value?: { id: string } }>
      handle = res.headers.get('electric-handle') as string
      offset = res.headers.get('electric-offset') as string
      offsets.push(offset)
      for (const message of body) if (message.value !== undefined) ids.push(Number(message.value.id))
      if (res.headers.has('electric-up-to-date')) break
    }
    assert.ok(offsets.length > 3, `offsets ${offsets}`)
    assert.deepEqual(offsets.slice(0, 3), ['0_0', '0_1', '0_2'])
    assert.deepEqual(
      ids.sort((a, b) => a - b),
      rows.map((r) => r.row.id),
    )
  } finally {
    await small.close()
    temp.cleanup()
  }
})

test('CORS: preflight 204, and every response exposes the electric headers', async () => {
  const preflight = await fetch(`${server.url}/v1/shape?table=items&offset=-1`, {
    method: 'OPTIONS',
    headers: { origin: 'http://example.test', 'access-control-request-method': 'GET' },
  })
  assert.equal(preflight.status, 204)
  assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://example.test')
  const res = await get('table=items&offset=-1', { headers: { origin: 'http://example.test' } })
  const exposed = res.headers.get('access-control-expose-headers')?.split(',') ?? []
  for (const header of ['electric-handle', 'electric-offset', 'electric-schema', 'electric-cursor']) {
    assert.ok(exposed.includes(header), header)
  }
})

test('GET /v1/health and /v1/stats (an addition of this example)', async () => {
  assert.deepEqual(await (await fetch(`${server.url}/v1/health`)).json(), { status: 'active' })
  const stats = (await (await fetch(`${server.url}/v1/stats`)).json()) as Record<string, number>
  assert.ok((stats.rssBytes ?? 0) > 0 && (stats.maxRssBytes ?? 0) >= (stats.rssBytes ?? 0) / 2)
  assert.equal(stats.waiters, 0)
  assert.ok((stats.shapes ?? 0) > 0)
})

test('DELETE by a handle no shape has, well-formed or not: 404 (a malformed one was a 500)', async () => {
  for (const handle of ['foo', '1-1', 'x'.repeat(100)]) {
    const res = await fetch(`${server.url}/v1/shape?handle=${handle}`, { method: 'DELETE' })
    assert.equal(res.status, 404, handle)
    await res.arrayBuffer()
  }
})

test('unknown routes: 404 Not found', async () => {
  const res = await fetch(`${server.url}/v2/shape`)
  assert.equal(res.status, 404)
  assert.equal(await res.text(), 'Not found')
})

async function startShapeServerWithChunks(dir: string) {
  const { startShapeServer } = await import('../src/index.ts')
  return startShapeServer({ dir, writers: 0, longPollTimeoutMs: TEST_LONG_POLL_MS, chunkBytesThreshold: 500 })
}
