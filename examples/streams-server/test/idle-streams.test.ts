/**
 * A server lets go of the streams nobody uses (StreamStore.evictIdle) and reads them back when
 * a request names them: what it held in memory (offsets handed out, idempotent producers,
 * Stream-Seq, closure) must come back exactly, a stream in use must stay the one object its
 * requests share, and a stream whose TTL lives in memory stays until it expires.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { type StreamsServer, startStreamsServer } from '../src/index.ts'
import { recordOf } from '../src/stream-record.ts'
import { Stream, StreamStore } from '../src/stream-store.ts'
import { readMessages, storedShapes, tempDir } from './helpers.ts'

const IDLE_MS = 100
const json = { 'content-type': 'application/json' }

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...json, ...headers }, body })
}

async function withServer(writers: number, work: (server: StreamsServer) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers, idleStreamMs: IDLE_MS })
  try {
    await work(server)
  } finally {
    await server.close()
    cleanup()
  }
}

for (const writers of [0, 1]) {
  const runtime = writers === 0 ? 'inline' : 'on a writer thread'
  test(`an idle stream leaves memory and comes back as it was (${runtime})`, () =>
    withServer(writers, async (server) => {
      const s = `${server.url}/v1/stream/idle`
      const producer = (seq: number) => ({ 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': String(seq) })
      assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
      assert.equal((await post(s, '[1]', producer(0))).status, 200)
      assert.equal((await post(s, '[2]', { 'stream-seq': 'b' })).status, 204)
      await until('the stream is let go', () => server.openStreams() === 0)

      // Read back: the producer's last sequence number, the Stream-Seq and the next offset.
      assert.equal((await post(s, '[1]', producer(0))).status, 204, 'a retried producer append is a duplicate')
      assert.equal((await post(s, '[3]', producer(1))).status, 200)
      assert.equal((await post(s, '[4]', { 'stream-seq': 'a' })).status, 409, 'Stream-Seq must still grow')
      await until('the stream is let go again', () => server.openStreams() === 0)
      assert.deepEqual(await readMessages(s), [0, 1, 2, 3])

      assert.equal((await post(s, '', { 'stream-closed': 'true' })).status, 204)
      await until('the closed stream is let go', () => server.openStreams() === 0)
      assert.equal((await post(s, '[5]')).status, 409, 'a closed stream stays closed')
      assert.deepEqual(await readMessages(s), [0, 1, 2, 3])
    }))

  test(`a live reader holds its stream, and is woken by the close (${runtime})`, () =>
    withServer(writers, async (server) => {
      const s = `${server.url}/v1/stream/held`
      const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
      const tail = created.headers.get('stream-next-offset') as string
      const poll = fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
      // Many sweeps while the long-poll waits: the stream must stay the object it waits on.
      await new Promise((resolve) => setTimeout(resolve, 6 * IDLE_MS))
      assert.equal(server.openStreams(), 1)
      // Closed by a request that, had the stream been let go, would have read a second object:
      // the waiting reader would then sleep to its timeout and answer without the closure.
      assert.equal((await post(s, '', { 'stream-closed': 'true' })).status, 204)
      const answer = await poll
      assert.equal(answer.headers.get('stream-closed'), 'true')
      await until('the stream is let go once its reader is done', () => server.openStreams() === 0)
    }))
}

test('an SSE connection holds its stream, and ends with the close', () =>
  withServer(0, async (server) => {
    const s = `${server.url}/v1/stream/sse`
    const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
    const tail = created.headers.get('stream-next-offset') as string
    const events = fetch(`${s}?offset=${encodeURIComponent(tail)}&live=sse`).then((res) => res.text())
    await new Promise((resolve) => setTimeout(resolve, 6 * IDLE_MS))
    assert.equal(server.openStreams(), 1)
    assert.equal((await post(s, '', { 'stream-closed': 'true' })).status, 204)
    // Without the hold the connection would wait on a forgotten object until it times out.
    assert.match(await events, /"streamClosed":true/)
  }))

test('a stream with a sliding TTL goes idle with its window saved: reloaded, it expires on time', () =>
  withServer(0, async (server) => {
    const s = `${server.url}/v1/stream/ttl`
    const lasting = `${server.url}/v1/stream/ttl-long`
    assert.equal((await fetch(s, { method: 'PUT', headers: { ...json, 'stream-ttl': '2' }, body: '[0]' })).status, 201)
    // A TTL of years: it used to keep the stream in memory all that time.
    const years = { ...json, 'stream-ttl': String(10 * 365 * 24 * 3600) }
    assert.equal((await fetch(lasting, { method: 'PUT', headers: years, body: '[0]' })).status, 201)
    const accessed = Date.now()
    await until('both streams are let go', () => server.openStreams() === 0)
    assert.ok(Date.now() - accessed < 1_500, 'let go before the short TTL ran out')
    assert.deepEqual(await readMessages(lasting), [0])
    // Past the short TTL counted from the last access before it was let go: reloaded with a
    // fresh window instead, it would still be there.
    await new Promise((resolve) => setTimeout(resolve, accessed + 2_300 - Date.now()))
    assert.equal((await fetch(s, { method: 'HEAD' })).status, 404)
  }))

test('a stream read back after going idle keeps its window across a restart: it expires counting from its use, not from the window saved before', async () => {
  const { dir, cleanup } = tempDir()
  const start = () => startStreamsServer({ dir, writers: 0, idleStreamMs: IDLE_MS })
  const at = (ms: number) => new Promise((resolve) => setTimeout(resolve, created + ms - Date.now()))
  let server = await start()
  const path = '/v1/stream/ttl-restart'
  const created = Date.now()
  try {
    const put = await fetch(`${server.url}${path}`, {
      method: 'PUT',
      headers: { ...json, 'stream-ttl': '2' },
      body: '[0]',
    })
    assert.equal(put.status, 201)
    await until('the stream is let go, its window saved', () => server.openStreams() === 0)
    await at(1_000)
    assert.deepEqual(await readMessages(`${server.url}${path}`), [0], 'read back within its TTL')
    await at(1_500)
    assert.equal((await fetch(`${server.url}${path}`, { method: 'HEAD' })).status, 200)
    await server.close()
    server = await start()
    // Last used at 1.5 s: alive until 3.5 s at least. Counted from the window saved at 0 s,
    // it would be gone at 2 s.
    await at(2_400)
    assert.equal((await fetch(`${server.url}${path}`, { method: 'HEAD' })).status, 200)
  } finally {
    await server.close()
    cleanup()
  }
})

test('streams that expire while on disk only are deleted without a request naming them', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 1, idleStreamMs: IDLE_MS, expiryScanMs: 100 })
  const kept = '/v1/stream/kept'
  try {
    const expiresAt = new Date(Date.now() + 1_000).toISOString()
    const puts = [
      ['/v1/stream/ttl', { 'stream-ttl': '1' }],
      ['/v1/stream/expires-at', { 'stream-expires-at': expiresAt }],
      [kept, { 'stream-ttl': '3600' }],
    ] as const
    for (const [path, headers] of puts) {
      const put = await fetch(`${server.url}${path}`, { method: 'PUT', headers: { ...json, ...headers }, body: '[0]' })
      assert.equal(put.status, 201)
    }
    await until('every stream is let go', () => server.openStreams() === 0)
    await new Promise((resolve) => setTimeout(resolve, 1_600))
  } finally {
    await server.close()
  }
  try {
    const env = open({ path: join(dir, 'streams'), maxDbs: 3 })
    const records = env.openDB<unknown, string>({ name: 'records', encoding: 'msgpack' })
    assert.deepEqual([...records.getKeys()], [kept], 'only the unexpired record is left')
    await env.close()
    assert.equal(await storedShapes(dir), 1, 'only the unexpired stream has a shape')
  } finally {
    cleanup()
  }
})

test('a long-poll keeps a stream with a shorter sliding TTL alive: it waits out its timeout, the stream still there', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, idleStreamMs: IDLE_MS, longPollTimeoutMs: 2_500 })
  try {
    const s = `${server.url}/v1/stream/watched`
    const created = await fetch(s, { method: 'PUT', headers: { ...json, 'stream-ttl': '1' }, body: '[0]' })
    const tail = created.headers.get('stream-next-offset') as string
    const started = Date.now()
    const polled = await fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
    await polled.arrayBuffer()
    // Deleted under the reader at 1 s, it answered then and the stream was gone.
    assert.equal(polled.status, 204)
    assert.ok(Date.now() - started >= 2_000, `answered after ${Date.now() - started} ms`)
    assert.equal((await fetch(s, { method: 'HEAD' })).status, 200, 'the read was an access')
  } finally {
    await server.close()
    cleanup()
  }
})

test('a long-poll on a stream that expires while it waits is answered then, not at its timeout', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, idleStreamMs: IDLE_MS, longPollTimeoutMs: 10_000 })
  try {
    const s = `${server.url}/v1/stream/expiring`
    const expires = { 'stream-expires-at': new Date(Date.now() + 1_000).toISOString() }
    const created = await fetch(s, { method: 'PUT', headers: { ...json, ...expires }, body: '[0]' })
    const tail = created.headers.get('stream-next-offset') as string
    const started = Date.now()
    const polled = await fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
    await polled.arrayBuffer()
    const waitedMs = Date.now() - started
    assert.ok(waitedMs < 5_000, `the long-poll waited ${waitedMs} ms on an expired stream`)
    assert.equal((await fetch(s, { method: 'HEAD' })).status, 404)
  } finally {
    await server.close()
    cleanup()
  }
})

test('a deleted stream kept for its fork goes idle like any other, its TTL notwithstanding', () =>
  withServer(0, async (server) => {
    const source = `${server.url}/v1/stream/source`
    const fork = `${server.url}/v1/stream/fork`
    const created = await fetch(source, { method: 'PUT', headers: { ...json, 'stream-ttl': '3600' }, body: '[0]' })
    assert.equal(created.status, 201)
    // An expiry of its own: a fork otherwise inherits its source's TTL.
    const forkHeaders = {
      ...json,
      'stream-forked-from': '/v1/stream/source',
      'stream-expires-at': '2099-01-01T00:00:00Z',
    }
    const forked = await fetch(fork, { method: 'PUT', headers: forkHeaders })
    assert.equal(forked.status, 201)
    assert.equal((await fetch(source, { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(source, { method: 'HEAD' })).status, 410, 'kept for the fork')
    await until('both streams are let go', () => server.openStreams() === 0)
    assert.deepEqual(await readMessages(fork), [0])
  }))

test('a sweep over many open streams lets requests in between, and lets every idle one go', async () => {
  // Streams as a request would have opened them, idle for an hour; no engine or records needed
  // (none was appended to, so none is hibernated).
  const store = new StreamStore({} as never, {} as never, {} as never)
  const streams = 25_000
  for (let i = 0; i < streams; i++) {
    const stream = new Stream(
      `/s/${i}`,
      recordOf({ config: { contentType: 'application/json' }, handle: 'h', createdAtMs: 0 }),
      1,
    )
    stream.lastAccessMs = Date.now() - 3_600_000
    store.adopt(stream)
  }
  let openMidway = -1
  setImmediate(() => {
    openMidway = store.openCount
  })
  const sweep = store.evictIdle(60_000)
  // A second sweep while the first is under way returns at once.
  assert.ok((await store.evictIdle(60_000).then(() => store.openCount)) > 0)
  await sweep
  assert.ok(openMidway > 0 && openMidway < streams, `a turn ran mid-sweep (it saw ${openMidway} open)`)
  assert.equal(store.openCount, 0)
})
