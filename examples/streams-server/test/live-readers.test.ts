/**
 * Many live readers of one stream: every long-poll listens to the stream's end signal, so a
 * thousand-subscriber fan-out put a thousand listeners on one AbortSignal and Node printed a
 * MaxListenersExceededWarning ("possible EventTarget memory leak") on the server's stderr. They
 * are bounded by the connections and removed when each wait ends: no warning, and every reader
 * wakes for the append.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Engine } from '@shapestore/engine'
import { startStreamsServer } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const READERS = 25

test(`${READERS} long-polls on one stream all wake, and Node warns of no listener leak`, async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  try {
    const s = `${server.url}/v1/stream/many-readers`
    const json = { 'content-type': 'application/json' }
    const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
    assert.equal(created.status, 201)
    const tail = created.headers.get('stream-next-offset') as string
    const polls = Array.from({ length: READERS }, () =>
      fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`).then(async (res) => ({
        status: res.status,
        body: await res.text(),
      })),
    )
    // Long enough for every poll to be waiting before the append.
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal((await fetch(s, { method: 'POST', headers: json, body: '[1]' })).status, 204)
    for (const poll of await Promise.all(polls)) {
      assert.equal(poll.status, 200)
      assert.deepEqual(JSON.parse(poll.body), [1])
    }
    // A warning is emitted on the next tick after the listener that crossed the limit.
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(
      warnings.map((warning) => warning.name),
      [],
    )
  } finally {
    process.off('warning', onWarning)
    await server.close()
    cleanup()
  }
})

test('a long-poll whose timeout fires as data commits answers with the data, not an empty 204 short of the tail', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, longPollTimeoutMs: 5_000 })
  const s = `${server.url}/v1/stream/race`
  // The race on cue: the wait times out (false) just after an append committed.
  const realWait = Engine.prototype.waitForOffset
  Engine.prototype.waitForOffset = (async () => {
    const posted = await fetch(s, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[2]' })
    assert.equal(posted.status, 204)
    return false
  }) as typeof realWait
  try {
    const created = await fetch(s, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '[1]' })
    const tail = created.headers.get('stream-next-offset') as string
    const polled = await fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
    // A 204 at the old offset without Stream-Up-To-Date (the tail had moved) before.
    assert.equal(polled.status, 200)
    assert.deepEqual(await polled.json(), [2])
    assert.equal(polled.headers.get('stream-up-to-date'), 'true')
  } finally {
    Engine.prototype.waitForOffset = realWait
    await server.close()
    cleanup()
  }
})
