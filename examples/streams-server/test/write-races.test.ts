/**
 * Requests on one stream that race its writes in flight, on both runtimes. Each race runs many
 * rounds, each on a fresh stream, with the two requests sent together on separate connections:
 *  - a DELETE while a producer's append (which saves the stream's record after its data) is
 *    committing: the deleted record must not come back (it pointed at a removed shape, and the
 *    path then answered 404 to everything, a new PUT included);
 *  - a close-only POST while an append is committing: no reader may be told the stream closed
 *    at an offset before an append that was acknowledged.
 * And a PUT on a stream that has expired but is not deleted yet: it deletes the old stream first
 * (the new record took the old one's place, and its shape was left on disk, unreachable).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { LogItem } from '@shapestore/engine'
import { startStreamsServer } from '../src/index.ts'
import { type Stream, StreamStore } from '../src/stream-store.ts'
import { readMessages, storedShapes, tempDir } from './helpers.ts'

const ROUNDS = 25
const json = { 'content-type': 'application/json' }

for (const writers of [0, 1]) {
  const runtime = writers === 0 ? 'inline' : 'worker'

  test(`${runtime} runtime: a DELETE racing a producer's append leaves the path free for a new stream`, async () => {
    const { dir, cleanup } = tempDir()
    const server = await startStreamsServer({ dir, writers })
    try {
      const acknowledged = { appends: 0, deletes: 0 }
      for (let round = 0; round < ROUNDS; round++) {
        const s = `${server.url}/v1/stream/delete-race-${round}`
        assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
        const producer = { 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' }
        const appending = fetch(s, { method: 'POST', headers: { ...json, ...producer }, body: '[1]' })
        // The append's body is read before the DELETE arrives, which then meets its commit.
        await new Promise((resolve) => setTimeout(resolve, round % 3))
        const [append, deletion] = await Promise.all([appending, fetch(s, { method: 'DELETE' })])
        if (append.status === 200) acknowledged.appends++
        assert.equal(deletion.status, 204, `round ${round}: DELETE`)
        acknowledged.deletes++
        assert.equal((await fetch(s)).status, 404, `round ${round}: the deleted stream stays deleted`)
        assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[2]' })).status, 201, `round ${round}: PUT`)
        assert.deepEqual(await readMessages(s), [2], `round ${round}: the new stream holds its own data only`)
      }
      // Both orders happened, or the race was not run.
      assert.ok(acknowledged.appends > 0, 'some appends were acknowledged before their DELETE')
    } finally {
      await server.close()
      cleanup()
    }
  })

  test(`${runtime} runtime: a close racing an append is never seen before the append it followed`, async () => {
    const { dir, cleanup } = tempDir()
    const server = await startStreamsServer({ dir, writers })
    try {
      let closedAfterAppend = 0
      for (let round = 0; round < ROUNDS; round++) {
        const s = `${server.url}/v1/stream/close-race-${round}`
        const created = await fetch(s, { method: 'PUT', headers: json, body: '[0]' })
        const tail = created.headers.get('stream-next-offset') as string
        const poll = fetch(`${s}?offset=${encodeURIComponent(tail)}&live=long-poll`)
        // The long-poll is held before the writes arrive.
        await new Promise((resolve) => setTimeout(resolve, 20))
        const append = fetch(s, { method: 'POST', headers: json, body: '[1]' })
        await new Promise((resolve) => setImmediate(resolve))
        const close = fetch(s, { method: 'POST', headers: { ...json, 'stream-closed': 'true' } })
        const [polled, appended, closed] = await Promise.all([poll, append, close])
        assert.equal(closed.status, 204, `round ${round}: close`)
        if (appended.status !== 204) continue // the close came first: the append was refused
        closedAfterAppend++
        const finalTail = appended.headers.get('stream-next-offset')
        const body = await polled.text()
        const seenUpTo = polled.headers.get('stream-next-offset')
        if (polled.headers.get('stream-closed') === 'true') {
          assert.equal(
            seenUpTo,
            finalTail,
            `round ${round}: told closed at ${seenUpTo}, before the append up to ${finalTail}`,
          )
        }
        if (polled.status === 200) assert.deepEqual(JSON.parse(body), [1])
        assert.deepEqual(await readMessages(s), [0, 1])
      }
      assert.ok(closedAfterAppend > 0, 'some closes followed an acknowledged append')
    } finally {
      await server.close()
      cleanup()
    }
  })
}

test('a PUT on an expired stream not yet deleted deletes it first: its shape does not stay behind', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const server = await startStreamsServer({ dir, writers: 0 })
    try {
      const s = `${server.url}/v1/stream/expired`
      const expiresAt = new Date(Date.now() + 300).toISOString()
      const headers = { ...json, 'stream-expires-at': expiresAt }
      assert.equal((await fetch(s, { method: 'PUT', headers, body: '[0]' })).status, 201)
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[1]' })).status, 201)
      assert.deepEqual(await readMessages(s), [1])
    } finally {
      await server.close()
    }
    assert.equal(await storedShapes(dir), 1, 'only the new stream has a shape')
  } finally {
    cleanup()
  }
})

test('a fork whose source is deleted while the fork is created is refused, and leaves no shape behind', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  const source = `${server.url}/v1/stream/source`
  // The fork's first append (its body) waits for the source's DELETE: the race, on cue.
  const realAppend = StreamStore.prototype.append
  StreamStore.prototype.append = async function (this: StreamStore, stream: Stream, items: readonly LogItem[]) {
    if (stream.path === '/v1/stream/fork') assert.equal((await fetch(source, { method: 'DELETE' })).status, 204)
    return realAppend.call(this, stream, items)
  }
  try {
    assert.equal((await fetch(source, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
    const fork = await fetch(`${server.url}/v1/stream/fork`, {
      method: 'PUT',
      headers: { ...json, 'stream-forked-from': '/v1/stream/source' },
      body: '[1]',
    })
    // A TypeError (500) before, and the fork's shape and its append stayed on disk.
    assert.equal(fork.status, 409)
    assert.equal((await fetch(`${server.url}/v1/stream/fork`, { method: 'HEAD' })).status, 404)
  } finally {
    StreamStore.prototype.append = realAppend
    await server.close()
  }
  try {
    assert.equal(await storedShapes(dir), 0, 'no shape is left')
  } finally {
    cleanup()
  }
})
