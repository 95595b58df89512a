/**
 * Crash rounds: the server process takes a stream of random transactions (inserts, updates,
 * deletes, one at a time) while an official client follows the shape live; it is killed with
 * SIGKILL at a random instant and restarted on the same directory and port. After each restart:
 * a fresh sync from offset -1 (a plain protocol loop, independent of the official client) equals
 * the table as the acknowledged transactions left it, plus possibly the one in flight at the
 * kill (committed or not: both are correct, the client never got an answer). At the end the
 * official client, which lived through every crash, shows the same rows and never refetched.
 *
 * Replay a run: CRASH_SEED=<seed printed below>; CRASH_ROUNDS=<n> for more rounds.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { prng } from '@shapestore/engine/crash-kit'
import { byId, connect, type Op, spawnServer, tempDir, write } from './helpers.ts'

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 3)
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31))

type Row = { id: number; n: number; s: string }

/** A random transaction of 1–5 ops on the current rows (valid: no duplicate inserts). */
function randomTransaction(random: () => number, rows: Map<number, Row>, nextId: { value: number }): Op[] {
  const ops: Op[] = []
  const ids = new Set(rows.keys())
  for (let i = 0, count = 1 + Math.floor(random() * 5); i < count; i++) {
    const existing = [...ids]
    const pick = existing[Math.floor(random() * existing.length)]
    const roll = random()
    if (pick === undefined || roll < 0.5) {
      const id = nextId.value++
      ids.add(id)
      ops.push({ op: 'insert', row: { id, n: Math.floor(random() * 100), s: `s${id}` } })
    } else if (roll < 0.8) {
      ops.push({ op: 'update', row: { id: pick, n: Math.floor(random() * 100) } })
    } else {
      ids.delete(pick)
      ops.push({ op: 'delete', row: { id: pick } })
    }
  }
  return ops
}

function apply(rows: Map<number, Row>, ops: readonly Op[]): Map<number, Row> {
  const next = new Map(rows)
  for (const { op, row } of ops) {
    const id = row.id as number
    if (op === 'insert') next.set(id, row as Row)
    else if (op === 'update' && next.has(id)) next.set(id, { ...(next.get(id) as Row), ...(row as Partial<Row>) })
    else if (op === 'delete') next.delete(id)
  }
  return next
}

/** The shape's rows via the bare protocol: -1, then chunks until up-to-date, merging changes. */
async function freshSync(url: string): Promise<Row[]> {
  const rows = new Map<string, Record<string, string | null>>()
  let offset = '-1'
  let handle = ''
  for (;;) {
    const res = await fetch(`${url}/v1/shape?table=items&offset=${offset}${handle ? `&handle=${handle}` : ''}`)
    assert.equal(res.status, 200)
    handle = res.headers.get('electric-handle') as string
    offset = res.headers.get('electric-offset') as string
    for (const message of (await res.json()) as Array<{
      key?: string
      value?: Record<string, string | null>
      headers: { operation?: string }
    }>) {
      if (message.key === undefined) continue
      if (message.headers.operation === 'delete') rows.delete(message.key)
      else rows.set(message.key, { ...rows.get(message.key), ...message.value })
    }
    if (res.headers.has('electric-up-to-date')) break
  }
  return [...rows.values()]
    .map((value) => ({ id: Number(value.id), n: Number(value.n), s: value.s as string }))
    .sort((a, b) => a.id - b.id)
}

const sorted = (rows: Map<number, Row>) => [...rows.values()].sort((a, b) => a.id - b.id)

test(`crash rounds (seed ${SEED}): every acknowledged transaction survives SIGKILL, clients resume`, async () => {
  console.log(`CRASH_SEED=${SEED}`)
  const random = prng(SEED)
  const { dir, cleanup } = tempDir()
  let server = await spawnServer(dir)
  const port = server.port
  let rows = new Map<number, Row>()
  const nextId = { value: 1 }
  const first: Op[] = [{ op: 'insert', row: { id: nextId.value++, n: 0, s: 's1' } }]
  assert.equal((await write(server.url, 'items', first)).status, 200)
  rows = apply(rows, first)
  const client = connect(server.url, { table: 'items' })
  try {
    await client.until((r) => r.length === 1, 'the first row')
    const handle = client.stream.shapeHandle
    const syncedRequests = client.requests.length
    for (let round = 0; round < ROUNDS; round++) {
      let inflight: Op[] | null = null
      let stop = false
      const writing = (async () => {
        while (!stop) {
          const ops = randomTransaction(random, rows, nextId)
          inflight = ops
          let status: number
          try {
            status = (await write(server.url, 'items', ops)).status
          } catch {
            return // the server died under this request: it stays in flight
          }
          assert.equal(status, 200)
          rows = apply(rows, ops)
          inflight = null
        }
      })()
      await sleep(50 + Math.floor(random() * 400))
      await server.kill('SIGKILL')
      stop = true
      await writing
      server = await spawnServer(dir, port)
      const synced = await freshSync(server.url)
      const pending = inflight as Op[] | null
      const withInflight = pending === null ? rows : apply(rows, pending)
      if (JSON.stringify(synced) === JSON.stringify(sorted(rows))) {
        // The transaction in flight (if any) did not commit.
      } else {
        assert.deepEqual(synced, sorted(withInflight), `round ${round}: the shape is neither state`)
        rows = withInflight
      }
    }
    const final = sorted(rows)
    const seen = await client.until(
      (r) => JSON.stringify(byId(r)) === JSON.stringify(final),
      'the live client to match the table after the crashes',
    )
    assert.deepEqual(byId(seen), final)
    assert.equal(client.stream.shapeHandle, handle)
    assert.ok(
      client.requests.slice(syncedRequests).every((url) => url.searchParams.get('offset') !== '-1'),
      'the live client never refetched',
    )
  } finally {
    client.close()
    await server.kill('SIGKILL')
    cleanup()
  }
})
