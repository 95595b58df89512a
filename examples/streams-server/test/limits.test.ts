import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { limits } from '@shapestore/engine'
import { BODY_BYTES_MAX } from '../src/http/body.ts'
import { PRODUCER_ID_BYTES_MAX } from '../src/http/request-headers.ts'
import { startStreamsServer } from '../src/index.ts'
import { STREAM_PATH_BYTES_MAX } from '../src/server.ts'
import { readAll, readMessages, tempDir } from './helpers.ts'

const json = { 'content-type': 'application/json' }

const run = promisify(execFile)

test('appends over the limits are 413 and write nothing', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    const s = `${server.url}/v1/stream/limits`
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
    const tooMany = `[${Array.from({ length: limits.TRANSACTION_ITEMS_MAX + 1 }, () => '1').join(',')}]`
    const many = await fetch(s, { method: 'POST', headers: json, body: tooMany })
    assert.equal(many.status, 413)
    assert.match(await many.text(), /at most 100000 messages/)
    const big = await fetch(s, { method: 'POST', headers: json, body: `"${'x'.repeat(BODY_BYTES_MAX)}"` })
    assert.equal(big.status, 413)
    // Under the body limit as sent, over the engine's item limit as stored: 1E20 is 21 digits re-encoded.
    const numbers = Array.from({ length: Math.floor((BODY_BYTES_MAX - 4) / 5) }, () => '1E20').join(',')
    const expanding = await fetch(s, { method: 'POST', headers: json, body: `[[${numbers}]]` })
    assert.equal(expanding.status, 413)
    assert.match(await expanding.text(), /as stored/)
    assert.deepEqual(await readMessages(s), [0])
    // The stream still takes appends.
    assert.equal((await fetch(s, { method: 'POST', headers: json, body: '[1]' })).status, 204)
    assert.deepEqual(await readMessages(s), [0, 1])
  } finally {
    await server.close()
    cleanup()
  }
})

test('a binary append of the largest body the server takes fits the engine', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    const s = `${server.url}/v1/stream/largest`
    const octets = { 'content-type': 'application/octet-stream' }
    assert.equal((await fetch(s, { method: 'PUT', headers: octets })).status, 201)
    const body = Buffer.alloc(BODY_BYTES_MAX, 0xab)
    assert.equal((await fetch(s, { method: 'POST', headers: octets, body })).status, 204)
    const { bodies } = await readAll(s)
    assert.ok(Buffer.concat(bodies).equals(body))
    assert.equal(
      (await fetch(s, { method: 'POST', headers: octets, body: Buffer.alloc(BODY_BYTES_MAX + 1) })).status,
      413,
    )
  } finally {
    await server.close()
    cleanup()
  }
})

test('a body over the limit gets its 413 while the client is still sending it, not a reset connection', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    const s = `${server.url}/v1/stream/oversize`
    const octets = { 'content-type': 'application/octet-stream' }
    assert.equal((await fetch(s, { method: 'PUT', headers: octets })).status, 201)
    // The conformance suite's case: 10 MiB with a Content-Length, from another process. The 413
    // came, with the connection closed, before the client had sent it all: fetch failed (EPIPE).
    const client = `
      const statuses = []
      for (let round = 0; round < 5; round++) {
        const init = { method: 'POST', headers: ${JSON.stringify(octets)}, body: new Uint8Array(10 * 1024 * 1024) }
        statuses.push(await fetch(process.argv[1], init).then((res) => res.status, (error) => String(error.cause ?? error)))
      }
      console.log(JSON.stringify(statuses))`
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', client, s])
    assert.deepEqual(JSON.parse(stdout), [413, 413, 413, 413, 413])
    assert.deepEqual(
      (await readAll(s)).bodies.map((body) => body.length),
      [0],
    )
  } finally {
    await server.close()
    cleanup()
  }
})

test('a creation with a bad body creates nothing', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    const s = `${server.url}/v1/stream/bad`
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[1,' })).status, 400)
    assert.equal((await fetch(s, { method: 'HEAD' })).status, 404)
    assert.equal((await fetch(s, { method: 'POST', headers: json, body: '1' })).status, 404)
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[1]' })).status, 201)
    assert.deepEqual(await readMessages(s), [1])
  } finally {
    await server.close()
    cleanup()
  }
})

test('a path over 1 KiB is a 414 and a Producer-Id over 512 bytes a 400, with nothing created or written', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  try {
    // Record keys in LMDB stop at 1,978 bytes: a 2,000-byte path was a 500, after its shape was made.
    const long = `${server.url}/v1/stream/${'a'.repeat(STREAM_PATH_BYTES_MAX)}`
    for (const method of ['PUT', 'POST', 'GET', 'HEAD', 'DELETE']) {
      const withBody = method === 'PUT' || method === 'POST'
      const res = await fetch(long, withBody ? { method, headers: json, body: '[1]' } : { method })
      assert.equal(res.status, 414, method)
      await res.arrayBuffer()
    }
    const s = `${server.url}/v1/stream/${'b'.repeat(STREAM_PATH_BYTES_MAX - '/v1/stream/'.length)}`
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201, 'the longest path')
    const producer = (id: string) => ({ ...json, 'producer-id': id, 'producer-epoch': '0', 'producer-seq': '0' })
    const refused = await fetch(s, {
      method: 'POST',
      headers: producer('p'.repeat(PRODUCER_ID_BYTES_MAX + 1)),
      body: '[1]',
    })
    assert.equal(refused.status, 400)
    const longest = await fetch(s, {
      method: 'POST',
      headers: producer('p'.repeat(PRODUCER_ID_BYTES_MAX)),
      body: '[2]',
    })
    assert.equal(longest.status, 200, 'the longest Producer-Id on the longest path')
    assert.deepEqual(await readMessages(s), [0, 2])
  } finally {
    await server.close()
    cleanup()
  }
})
