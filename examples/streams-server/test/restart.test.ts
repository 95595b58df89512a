import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startStreamsServer } from '../src/index.ts'
import { readAll, readMessages, tempDir } from './helpers.ts'

const json = { 'content-type': 'application/json' }
const producer = (seq: number) => ({ 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': String(seq) })

for (const [runtime, writers] of [
  ['inline', 0],
  ['workers', 2],
] as const) {
  test(`data, closure and producer state survive a restart (${runtime} runtime)`, async () => {
    const { dir, cleanup } = tempDir()
    try {
      let server = await startStreamsServer({ dir, writers })
      const a = `${server.url}/v1/stream/a`
      const b = `${server.url}/v1/stream/b`
      assert.equal((await fetch(a, { method: 'PUT', headers: json })).status, 201)
      assert.equal((await fetch(a, { method: 'POST', headers: json, body: '[1,2]' })).status, 204)
      const produced = await fetch(a, { method: 'POST', headers: { ...json, ...producer(0) }, body: '{"x":1}' })
      assert.equal(produced.status, 200)
      const tailBefore = produced.headers.get('stream-next-offset') as string
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
      const octets = { 'content-type': 'application/octet-stream' }
      assert.equal((await fetch(b, { method: 'PUT', headers: octets, body: bytes })).status, 201)
      assert.equal((await fetch(b, { method: 'POST', headers: { 'stream-closed': 'true' } })).status, 204)
      await server.close()

      server = await startStreamsServer({ dir, writers })
      const a2 = `${server.url}/v1/stream/a`
      const b2 = `${server.url}/v1/stream/b`
      assert.deepEqual(await readMessages(a2), [1, 2, { x: 1 }])
      assert.equal((await fetch(a2, { method: 'HEAD' })).headers.get('stream-next-offset'), tailBefore)
      // The producer's retry is recognised; its next request continues after the old tail.
      const retry = await fetch(a2, { method: 'POST', headers: { ...json, ...producer(0) }, body: '{"x":1}' })
      assert.equal(retry.status, 204)
      const next = await fetch(a2, { method: 'POST', headers: { ...json, ...producer(1) }, body: '{"x":2}' })
      assert.equal(next.status, 200)
      assert.ok((next.headers.get('stream-next-offset') as string) > tailBefore)
      assert.deepEqual(await readMessages(a2), [1, 2, { x: 1 }, { x: 2 }])

      const { bodies } = await readAll(b2)
      assert.deepEqual(Buffer.concat(bodies), bytes)
      const head = await fetch(b2, { method: 'HEAD' })
      assert.equal(head.headers.get('stream-closed'), 'true')
      assert.equal(head.headers.get('content-type'), 'application/octet-stream')
      assert.equal((await fetch(b2, { method: 'POST', headers: octets, body: 'more' })).status, 409)
      await server.close()
    } finally {
      cleanup()
    }
  })
}

test('a deleted stream stays deleted after a restart; its path starts again empty', async () => {
  const { dir, cleanup } = tempDir()
  try {
    let server = await startStreamsServer({ dir, writers: 0 })
    const s = `${server.url}/v1/stream/gone`
    await fetch(s, { method: 'PUT', headers: json, body: '[1,2,3]' })
    assert.equal((await fetch(s, { method: 'DELETE' })).status, 204)
    await server.close()
    server = await startStreamsServer({ dir, writers: 0 })
    const s2 = `${server.url}/v1/stream/gone`
    assert.equal((await fetch(s2, { method: 'HEAD' })).status, 404)
    assert.equal((await fetch(s2, { method: 'PUT', headers: json })).status, 201)
    assert.deepEqual(await readMessages(s2), [])
    await server.close()
  } finally {
    cleanup()
  }
})

test("a stream deleted and created again starts with no producer: the old producers' states went with it", async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    const s = `${server.url}/v1/stream/again`
    const producer = { ...json, 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' }
    assert.equal((await fetch(s, { method: 'PUT', headers: json })).status, 201)
    assert.equal((await fetch(s, { method: 'POST', headers: producer, body: '[1]' })).status, 200)
    assert.equal((await fetch(s, { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(s, { method: 'PUT', headers: json })).status, 201)
    // A duplicate of the old stream's append would be a 204 with nothing stored.
    assert.equal((await fetch(s, { method: 'POST', headers: producer, body: '[2]' })).status, 200)
    assert.deepEqual(await readMessages(s), [2])
  } finally {
    await server.close()
    cleanup()
  }
})

test('the partition count is fixed with the data directory', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const server = await startStreamsServer({ dir, writers: 0, partitions: 3 })
    await server.close()
    await assert.rejects(startStreamsServer({ dir, writers: 0, partitions: 4 }), /created with 3 partitions, not 4/)
    // Unspecified: the recorded count.
    const again = await startStreamsServer({ dir, writers: 0 })
    await again.close()
  } finally {
    cleanup()
  }
})

test('forks survive a restart: inherited and own data, sub-offset prefixes, a soft-deleted source', async () => {
  const { dir, cleanup } = tempDir()
  try {
    let server = await startStreamsServer({ dir, writers: 0 })
    const url = (path: string) => `${server.url}/v1/stream/${path}`
    const text = { 'content-type': 'text/plain' }
    assert.equal((await fetch(url('src'), { method: 'PUT', headers: text, body: 'hello' })).status, 201)
    const tail = (await fetch(url('src'), { method: 'HEAD' })).headers.get('stream-next-offset') as string
    assert.equal((await fetch(url('src'), { method: 'POST', headers: text, body: ' world' })).status, 204)
    const fork = { 'stream-forked-from': '/v1/stream/src', 'stream-fork-offset': tail }
    assert.equal((await fetch(url('fork'), { method: 'PUT', headers: { ...text, ...fork } })).status, 201)
    assert.equal((await fetch(url('fork'), { method: 'POST', headers: text, body: ' there' })).status, 204)
    const prefix = { ...fork, 'stream-fork-sub-offset': '3' }
    assert.equal((await fetch(url('prefix'), { method: 'PUT', headers: { ...text, ...prefix } })).status, 201)
    // The source goes while forks read from it: soft-deleted.
    assert.equal((await fetch(url('src'), { method: 'DELETE' })).status, 204)
    await server.close()

    server = await startStreamsServer({ dir, writers: 0 })
    const body = async (path: string) => Buffer.concat((await readAll(url(path))).bodies).toString('utf8')
    assert.equal(await body('fork'), 'hello there')
    assert.equal(await body('prefix'), 'hello wo')
    assert.equal((await fetch(url('src'), { method: 'HEAD' })).status, 410)
    // The last fork to go takes the soft-deleted source with it.
    assert.equal((await fetch(url('fork'), { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(url('prefix'), { method: 'DELETE' })).status, 204)
    assert.equal((await fetch(url('src'), { method: 'HEAD' })).status, 404)
    await server.close()
  } finally {
    cleanup()
  }
})
