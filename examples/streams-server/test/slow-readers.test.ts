/**
 * SSE clients that never read a big stream: the server writes an event only once the previous
 * one has drained, so each such client holds about one event (a chunk of the stream) in the
 * server, not the whole stream (without that, every stalled client buffered all of it).
 * Measured as the memory the stalled clients make this process hold (the server runs in it), per
 * client, against the size of one event.
 */
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { BODY_BYTES_MAX } from '../src/http/body.ts'
import { startStreamsServer } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const APPENDS = 8
/**
 * Per stalled client, at most two of the stream's data events (one append each here, 11.2 MiB of
 * base64): 11.6-14.3 MiB measured in three runs on 2026-12-07; 356 MiB before the server waited
 * for a write to drain and wrote events as bytes (a string it cannot send at once, Node copies).
 */
const EVENTS_PER_CLIENT_MAX = 2
const STALLED = 6

/**
 * What this process holds after a full collection: the JavaScript heap and the memory behind
 * Buffers. Not its resident memory: freed buffers of this size stay resident in malloc's heap at
 * random (18-33 MiB per client in the same test), which would measure the garbage, not the hold.
 */
function heldAfterGc(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

/** A GET whose answer is never read: the socket is paused before any byte arrives. */
function stalledGet(url: URL, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) }, () => {
      socket.pause()
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

test(`${STALLED} SSE clients that never read a ${APPENDS * 8} MiB stream hold about an event each in the server`, {
  timeout: 120_000,
}, async (t) => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0 })
  const sockets: Socket[] = []
  try {
    const s = `${server.url}/v1/stream/big`
    const octets = { 'content-type': 'application/octet-stream' }
    assert.equal((await fetch(s, { method: 'PUT', headers: octets })).status, 201)
    for (let i = 0; i < APPENDS; i++) {
      const body = Buffer.alloc(BODY_BYTES_MAX, i)
      assert.equal((await fetch(s, { method: 'POST', headers: octets, body })).status, 204)
    }
    // What SSE sends of one append: base64, 4/3 of the bytes.
    const eventBytes = (BODY_BYTES_MAX * 4) / 3
    const path = `${new URL(s).pathname}?offset=-1&live=sse`
    const before = heldAfterGc()
    for (let i = 0; i < STALLED; i++) sockets.push(await stalledGet(new URL(server.url), path))
    await sleep(2_000) // every stalled client's answer has been written as far as it goes
    // What the server holds, not the garbage its reads and encodings left behind.
    const perClient = (heldAfterGc() - before) / STALLED
    t.diagnostic(`memory held per stalled SSE client: ${(perClient / 2 ** 20).toFixed(1)} MiB`)
    assert.ok(
      perClient < EVENTS_PER_CLIENT_MAX * eventBytes,
      `${(perClient / 2 ** 20).toFixed(1)} MiB per client, events of ${(eventBytes / 2 ** 20).toFixed(0)} MiB`,
    )
    // A stalled client that reads at last gets the stream from its start.
    const late = sockets.pop() as Socket
    let received = ''
    late.setEncoding('utf8')
    late.on('data', (text: string) => {
      received += text.slice(0, 4096 - received.length)
    })
    late.resume()
    const deadline = Date.now() + 15_000
    while (!received.includes('event: data') && Date.now() < deadline) await sleep(20)
    late.destroy()
    assert.match(received, /^HTTP\/1\.1 200/)
    assert.match(received, /event: data\ndata:AAAA/)
  } finally {
    for (const socket of sockets) socket.destroy()
    await server.close()
    cleanup()
  }
})

test('an SSE client that stops reading is cut at its connection time, and lets go of the stream', {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, sseConnectionMs: 1_000, idleStreamMs: 200 })
  try {
    const s = `${server.url}/v1/stream/big`
    const octets = { 'content-type': 'application/octet-stream' }
    assert.equal((await fetch(s, { method: 'PUT', headers: octets })).status, 201)
    for (let i = 0; i < 4; i++) {
      const body = Buffer.alloc(BODY_BYTES_MAX, i)
      assert.equal((await fetch(s, { method: 'POST', headers: octets, body })).status, 204)
    }
    const socket = await stalledGet(new URL(server.url), `${new URL(s).pathname}?offset=-1&live=sse`)
    socket.on('error', () => {})
    // Held by the stalled connection for good (20 s and more measured), the stream never went
    // idle: the server kept it and an event of 11 MiB. Cut at 1 s, it goes at the next sweeps
    // (about 1.5 s here; a loaded CI machine took over 3 s once).
    const deadline = Date.now() + 15_000
    while (server.openStreams() !== 0 && Date.now() < deadline) await sleep(100)
    assert.equal(server.openStreams(), 0, 'the stream is still held 15 s into a 1 s connection')
    socket.destroy()
  } finally {
    await server.close()
    cleanup()
  }
})
