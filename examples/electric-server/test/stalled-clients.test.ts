// Proves clients that ask for a big chunk and never read it cost the server little and do not
// stop it answering: the server in its own process holds a ~4 MiB snapshot chunk; STALLED raw
// sockets each request it and never read a byte; the server's resident memory per stalled client
// stays far below the chunk's size (the chunk is read once and shared, not copied per client;
// Electric once measured ~19.6 MB per stalled connection), and a fresh client is still served
// in full meanwhile.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect as connectTcp, type Socket } from 'node:net'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnServer, tempDir, writeOk } from './helpers.ts'

const STALLED = 200
const ROWS = 2_000
const ROW_PAD = 'x'.repeat(2_000)
/**
 * Per stalled client, at most 1/8 of the chunk (a copy per client would be 4 MiB). The chunk is
 * shared while any response holds it (LogReadCache): 54-92 KiB per client in three runs on
 * 2026-12-07. Before that each request read its own copy, and what a client cost depended on how
 * much of it the kernel's socket buffers took: 118-851 KiB here, 1,152 KiB in one CI run.
 */
const BYTES_PER_CLIENT_MAX = 512 * 1024

function residentBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m)
  if (line === null) throw new Error('no VmRSS in /proc/<pid>/status (Linux only)')
  return Number(line[1]) * 1024
}

/** Sends a GET and never reads: the socket is paused before any byte arrives. */
function stalledRequest(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ port, host: '127.0.0.1' }, () => {
      socket.pause()
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

test(`${STALLED} clients that never read a ~4 MiB chunk: bounded server memory, and a fresh client is served`, {
  timeout: 120_000,
}, async (t) => {
  const { dir, cleanup } = tempDir()
  const server = await spawnServer(dir)
  const sockets: Socket[] = []
  try {
    const pid = server.child.pid as number
    for (let from = 0; from < ROWS; from += 200) {
      await writeOk(
        server.url,
        'items',
        Array.from({ length: 200 }, (_, i) => ({ op: 'insert' as const, row: { id: from + i, pad: ROW_PAD } })),
      )
    }
    const path = '/v1/shape?table=items&offset=-1'
    const first = await fetch(`${server.url}${path}`)
    assert.equal(first.status, 200)
    const chunkBytes = (await first.arrayBuffer()).byteLength
    assert.ok(chunkBytes > 3 * 1024 * 1024, `the chunk is ${chunkBytes} bytes`)
    await sleep(500)
    const before = residentBytes(pid)
    for (let i = 0; i < STALLED; i++) sockets.push(await stalledRequest(server.port, path))
    await sleep(2_000) // the server has answered into every socket's buffers by now
    const perClient = (residentBytes(pid) - before) / STALLED
    t.diagnostic(`server resident memory per stalled client: ${Math.round(perClient / 1024)} KiB`)
    assert.ok(perClient < BYTES_PER_CLIENT_MAX, `${Math.round(perClient / 1024)} KiB per stalled client`)

    const fresh = await fetch(`${server.url}${path}`)
    assert.equal(fresh.status, 200)
    assert.equal((await fresh.arrayBuffer()).byteLength, chunkBytes, 'a fresh client gets the whole chunk')
    // And a stalled client that finally reads gets its whole answer: it was being served all along.
    const late = sockets.pop() as Socket
    let received = 0
    late.on('data', (data: Buffer) => {
      received += data.length
    })
    late.resume()
    const deadline = Date.now() + 15_000
    while (received < chunkBytes && Date.now() < deadline) await sleep(20)
    late.destroy()
    assert.ok(received > chunkBytes, `the late reader got ${received} of the chunk's ${chunkBytes} bytes and headers`)
  } finally {
    for (const socket of sockets) socket.destroy()
    await server.kill('SIGTERM')
    cleanup()
  }
})
