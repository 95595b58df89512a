/**
 * The reconnect storm after a crash: the server (its own process) holds SHAPES shapes with
 * their clients caught up; it is killed with SIGKILL and restarted on the same directory, and
 * CLIENTS clients (a random sample of the shapes) reconnect at once with their handle and offset.
 * Every request must be answered correctly (200, the same handle, up-to-date, no rows: nothing
 * changed), and no request may read more than its own shape's records (the engine's counters:
 * at most three catalog reads of its entries, its metadata record and one read-path miss per
 * reconnecting shape; the example used to read every shape at its start).
 *
 * `pnpm test` runs it small; the issue's size is a command:
 * `STORM_SHAPES=20000 STORM_CLIENTS=5000 node --import tsx --test examples/electric-server/test/reconnect-storm.test.ts`
 * (prints the latency p50/p99/max of the storm).
 */
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { spawnServer, tempDir, writeOk } from './helpers.ts'

const SHAPES = Number(process.env.STORM_SHAPES ?? 2_000)
const CLIENTS = Number(process.env.STORM_CLIENTS ?? 500)
const ROWS_PER_WRITE = 500
const CREATE_CONCURRENCY = 32

interface Caught {
  readonly id: number
  readonly handle: string
  readonly offset: string
}

test(`a reconnect storm after a SIGKILL: ${CLIENTS} clients of ${SHAPES} shapes at once`, {
  timeout: 600_000,
}, async () => {
  const { dir, cleanup } = tempDir()
  let server = await spawnServer(dir)
  try {
    for (let from = 0; from < SHAPES; from += ROWS_PER_WRITE) {
      const ops = Array.from({ length: Math.min(ROWS_PER_WRITE, SHAPES - from) }, (_, i) => ({
        op: 'insert' as const,
        row: { id: from + i, title: `row ${from + i}` },
      }))
      await writeOk(server.url, 'items', ops)
    }
    const agent = new Agent({ keepAlive: true, maxSockets: CREATE_CONCURRENCY })
    const caught: Caught[] = []
    let next = 0
    const creator = async () => {
      while (next < SHAPES) {
        const id = next++
        const res = await get(
          agent,
          `${server.url}/v1/shape?table=items&where=${encodeURIComponent(`id = ${id}`)}&offset=-1`,
        )
        assert.equal(res.status, 200)
        caught.push({
          id,
          handle: res.headers['electric-handle'] as string,
          offset: res.headers['electric-offset'] as string,
        })
      }
    }
    await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, creator))
    agent.destroy()

    await server.kill('SIGKILL')
    server = await spawnServer(dir, server.port)
    const sample = caught.filter((_, i) => i % Math.ceil(SHAPES / CLIENTS) === 0).slice(0, CLIENTS)
    // One socket per client, all at once.
    const storm = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY })
    const start = performance.now()
    const answers = await Promise.all(
      sample.map(async (client) => {
        const url = `${server.url}/v1/shape?table=items&where=${encodeURIComponent(`id = ${client.id}`)}&handle=${client.handle}&offset=${client.offset}`
        const res = await get(storm, url)
        return { client, res, ms: performance.now() - start }
      }),
    )
    const latencies = answers.map((answer) => answer.ms).sort((a, b) => a - b)
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]?.toFixed(1)
    console.log(
      `storm of ${sample.length} over ${SHAPES} shapes: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
    )
    for (const { client, res } of answers) {
      assert.equal(res.status, 200, `shape ${client.id}: ${res.status} ${res.body}`)
      assert.equal(res.headers['electric-handle'], client.handle)
      const messages = JSON.parse(res.body) as Array<{ headers?: { control?: string } }>
      assert.equal(messages.length, 1, `shape ${client.id}: no rows`)
      assert.equal(messages[0]?.headers?.control, 'up-to-date', `shape ${client.id}: up to date`)
    }
    const stats = (await (await fetch(`${server.url}/v1/stats`)).json()) as {
      catalogRecordsRead: number
      metaRecordsRead: number
      readPathMisses: number
    }
    console.log(`engine counters after the storm: ${JSON.stringify(stats)}`)
    // Its own shape's records only: the catalog's shape -> handle entry and its handle entry (read
    // twice today: by the read path's miss and by the engine's handle cache), its metadata.
    assert.ok(stats.catalogRecordsRead <= 3 * sample.length, `catalog records read ${stats.catalogRecordsRead}`)
    assert.ok(stats.metaRecordsRead <= sample.length, `metadata records read ${stats.metaRecordsRead}`)
    assert.ok(stats.readPathMisses <= sample.length, `read-path misses ${stats.readPathMisses}`)
  } finally {
    await server.kill('SIGTERM')
    cleanup()
  }
})

function get(agent: Agent, url: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
      .on('error', reject)
      .end()
  })
}
