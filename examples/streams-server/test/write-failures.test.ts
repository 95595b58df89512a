/**
 * What a failed write leaves behind, with requests racing it. The failure is injected at the
 * engine's API: an append whose messages carry a marker rejects with STORAGE_FULL after 100 ms,
 * having stored nothing (what the engine answers on a full disk, disk-full.test.ts; a real full
 * disk cannot be made to fail one append and pass the next on cue). The engine, its files and the
 * HTTP server are real. Inline runtime: the injection does not depend on the writer threads.
 *  - A pipelined producer: its next request, sent while the failed one was in flight, must not
 *    commit without it (the failed one's retry was then answered as a duplicate, never stored).
 *  - A DELETE while the failed write settles: the record must not come back (the path answered
 *    404 to everything, a new PUT included).
 *  - A long-poll waiting on the stream whose object the failure let go: woken, not left for the
 *    successor's close to miss until its timeout.
 * And a close whose record save fails (injected in StreamStore.save, for one path): no reader may
 * have been told the stream closed, since it then stays open.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Engine, EngineError, ErrorCode, type LogItem, type ShapeHandle } from '@shapestore/engine'
import { type StreamsServer, startStreamsServer } from '../src/index.ts'
import { type Stream, StreamStore } from '../src/stream-store.ts'
import { readMessages, tempDir } from './helpers.ts'

const json = { 'content-type': 'application/json' }
const MARKER = '"fail-once"'

/** Appends whose messages hold MARKER fail, each marker once (its retry, without it, passes). */
const realAppend = Engine.prototype.appendToLog
before(() => {
  Engine.prototype.appendToLog = function (this: Engine, handle: ShapeHandle, items: readonly LogItem[]) {
    if (!items.some((item) => item.json.includes(MARKER))) return realAppend.call(this, handle, items)
    return new Promise((_, reject) =>
      setTimeout(() => reject(new EngineError(ErrorCode.STORAGE_FULL, 'injected: no space left')), 100),
    )
  }
})
after(() => {
  Engine.prototype.appendToLog = realAppend
})

/** Saves of a closed record of a stream whose path holds CLOSE_FAILS fail. */
const CLOSE_FAILS = 'close-save-fails'
const realSave = StreamStore.prototype.save
before(() => {
  StreamStore.prototype.save = function (this: StreamStore, stream: Stream) {
    const closed = stream.record.closed || stream.closureSaving
    if (stream.path.includes(CLOSE_FAILS) && closed)
      return Promise.reject(new Error('injected: the record was not saved'))
    return realSave.call(this, stream)
  }
})
after(() => {
  StreamStore.prototype.save = realSave
})

async function onServer(body: (server: StreamsServer) => Promise<void>, longPollTimeoutMs = 20_000): Promise<void> {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, longPollTimeoutMs })
  try {
    await body(server)
  } finally {
    await server.close()
    cleanup()
  }
}

const producer = (seq: number, id = 'p') => ({
  ...json,
  'producer-id': id,
  'producer-epoch': '0',
  'producer-seq': `${seq}`,
})
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test("a producer's request sent while its previous one was failing does not commit without it", () =>
  onServer(async (server) => {
    const s = `${server.url}/v1/stream/pipelined`
    assert.equal((await fetch(s, { method: 'PUT', headers: json })).status, 201)
    assert.equal((await fetch(s, { method: 'POST', headers: producer(0), body: '[{"seq":0}]' })).status, 200)
    const failing = fetch(s, { method: 'POST', headers: producer(1), body: `[{"seq":1,"m":${MARKER}}]` })
    await sleep(20)
    const next = await fetch(s, { method: 'POST', headers: producer(2), body: '[{"seq":2}]' })
    assert.equal((await failing).status, 507)
    assert.equal(next.status, 409, 'seq 2 without seq 1: a sequence gap')
    const retry = await fetch(s, { method: 'POST', headers: producer(1), body: '[{"seq":1}]' })
    assert.equal(retry.status, 200, 'the retry of the failed request is stored, not answered as a duplicate')
    assert.equal((await fetch(s, { method: 'POST', headers: producer(2), body: '[{"seq":2}]' })).status, 200)
    assert.deepEqual(await readMessages(s), [{ seq: 0 }, { seq: 1 }, { seq: 2 }])
  }))

test('a DELETE while a failed write settles leaves the path free for a new stream', () =>
  onServer(async (server) => {
    const s = `${server.url}/v1/stream/deleted`
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
    const failing = fetch(s, { method: 'POST', headers: producer(0), body: `[${MARKER}]` })
    await sleep(20)
    const deletion = fetch(s, { method: 'DELETE' })
    // Requests meanwhile: each may load the stream again while the failure and the deletion settle.
    const others: Promise<Response>[] = []
    for (let seq = 0; seq < 60; seq++) {
      others.push(fetch(s, { method: 'HEAD' }))
      others.push(fetch(s, { method: 'POST', headers: producer(seq, 'q'), body: `[${seq}]` }))
      await sleep(2)
    }
    assert.equal((await failing).status, 507)
    assert.equal((await deletion).status, 204)
    await Promise.all(others.map((response) => response.then((res) => res.arrayBuffer())))
    assert.equal((await fetch(s)).status, 404, 'the deleted stream stays deleted')
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[1]' })).status, 201)
    assert.deepEqual(await readMessages(s), [1])
  }))

test('a long-poll on a stream whose failed write let go of it is woken, not left to its timeout', () =>
  onServer(async (server) => {
    const s = `${server.url}/v1/stream/polled`
    const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
    const tail = created.headers.get('stream-next-offset') as string
    const started = Date.now()
    const poll = fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
    await sleep(50)
    assert.equal((await fetch(s, { method: 'POST', headers: json, body: `[${MARKER}]` })).status, 507)
    // A close of the stream as the disk has it: it used to wake only the readers of that object.
    const close = await fetch(s, { method: 'POST', headers: { ...json, 'stream-closed': 'true' } })
    assert.equal(close.status, 204)
    const polled = await poll
    await polled.arrayBuffer()
    const waitedMs = Date.now() - started
    assert.ok(waitedMs < 5_000, `the long-poll waited ${waitedMs} ms, its whole timeout`)
    assert.equal(polled.status, 204)
  }, 10_000))

test('a close whose record could not be saved was told to no reader: the stream stays open', () =>
  onServer(async (server) => {
    const s = `${server.url}/v1/stream/${CLOSE_FAILS}`
    const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
    const tail = created.headers.get('stream-next-offset') as string
    const poll = fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
    await sleep(50)
    const close = await fetch(s, { method: 'POST', headers: { ...json, 'stream-closed': 'true' } })
    assert.equal(close.status, 500)
    const polled = await poll
    await polled.arrayBuffer()
    assert.equal(polled.headers.get('stream-closed'), null, 'a reader was told of a closure that was not saved')
    assert.equal((await fetch(s, { method: 'POST', headers: json, body: '[1]' })).status, 204)
    assert.deepEqual(await readMessages(s), [0, 1])
  }))
