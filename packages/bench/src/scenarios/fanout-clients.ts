/**
 * Child process of the write-fanout-http scenario: a fleet of clients on one shape, driven by
 * JSON lines on stdin, answering
 * JSON lines on stdout. It writes the measured transactions itself, so every timestamp of a
 * round comes from one clock. It runs apart from the driver so the driver's own work stays out
 * of the clients' event loop, and because the client keeps a 60 s timer alive in its module
 * (UpToDateTracker) that would hold the driver process open: this one exits when told.
 *
 * Clients (argv[4]): `electric`, the official client (`@electric-sql/client` ShapeStream), or
 * `raw`, a minimal protocol loop on node:http with a keep-alive agent (follows handle, offset,
 * cursor and up-to-date, JSON-parses each body, nothing else; undici's fetch, which the
 * official client uses, costs the client process several times more per request): the
 * difference is what the client side adds.
 *
 * Options (argv[5], JSON, for the pg-e2e scenario): `pg`, a Postgres URL: rounds are written
 * there with SQL instead of POSTed (into `items (id int, v int, grp int, body text)`); and
 * `shapePerClient`: client i syncs its own shape (`v >= -i`: every shape gets every round's rows).
 *
 * Commands:
 * - `{"cmd":"grow","clients":N}` → starts clients up to N, each synced to up-to-date → `{"event":"grown"}`
 * - `{"cmd":"round","prefix":P,"rows":R}` → inserts rows `P-0`…`P-(R-1)` in one transaction and
 *   waits until every stream has received row `P-(R-1)` → `{"event":"round","latenciesMs":[…],"writeMs":w,"txid":t}`
 *   (with `pg`: rows P…P+R-1, P a number; latencies from just before the COMMIT; `txid` is the
 *   transaction's commit LSN as the server numbers it, the `tx` of /v1/stats?tx=)
 * - `{"cmd":"exit"}`
 */
import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { type Message, type Row, ShapeStream } from '@electric-sql/client'
import pg from 'pg'

const url = process.argv[2] as string
const table = process.argv[3] as string
const mode = process.argv[4] === 'raw' ? 'raw' : 'electric'
const options = JSON.parse(process.argv[5] ?? '{}') as { pg?: string; shapePerClient?: boolean }
/** A round that has not reached every client in this long has lost one: fail loudly rather than hang. */
const ROUND_GUARD_MS = 120_000
const GROW_BATCH = 100

interface Fleet {
  readonly controllers: AbortController[]
  /** The id the current round waits for, and when each client saw it (NaN: not yet). */
  awaitedId: string | null
  seenAt: Float64Array
  remaining: number
  onAllSeen: (() => void) | null
}

const fleet: Fleet = {
  controllers: [],
  awaitedId: null,
  seenAt: new Float64Array(0),
  remaining: 0,
  onAllSeen: null,
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

async function grow(clients: number): Promise<void> {
  while (fleet.controllers.length < clients) {
    const batch = Math.min(GROW_BATCH, clients - fleet.controllers.length)
    await Promise.all(Array.from({ length: batch }, () => startStream()))
  }
}

/** Records that client `index` received `messages`, if they hold the row the round waits for. */
function received(index: number, messages: readonly Message<Row>[]): void {
  const awaited = fleet.awaitedId
  if (awaited === null || !Number.isNaN(fleet.seenAt[index])) return
  for (const message of messages) {
    // The raw client compares the text form (a Postgres int id arrives as "7").
    if ('key' in message && String(message.value.id) === awaited) {
      awaitedLsn = Number((message.headers as { lsn?: string }).lsn ?? Number.NaN)
      fleet.seenAt[index] = performance.now()
      if (--fleet.remaining === 0) fleet.onAllSeen?.()
      return
    }
  }
}

function startStream(): Promise<void> {
  return mode === 'raw' ? startRawClient() : startElectricClient()
}

/** Starts one official client and resolves at its first up-to-date. */
function startElectricClient(): Promise<void> {
  const index = fleet.controllers.length
  const controller = new AbortController()
  const stream = new ShapeStream<Row>({
    url: `${url}/v1/shape`,
    params: { table },
    signal: controller.signal,
    backoffOptions: { initialDelay: 100, maxDelay: 1_000, multiplier: 2 },
  })
  fleet.controllers.push(controller)
  return new Promise<void>((resolve, reject) => {
    stream.subscribe(
      (messages: Message<Row>[]) => {
        received(index, messages)
        if (stream.isUpToDate) resolve()
      },
      (error: unknown) => reject(error),
    )
  })
}

/** Starts one minimal protocol client; resolves at its first up-to-date, then long-polls until aborted. */
function startRawClient(): Promise<void> {
  const index = fleet.controllers.length
  const controller = new AbortController()
  fleet.controllers.push(controller)
  return new Promise<void>((resolve, reject) => {
    const run = async () => {
      let offset = '-1'
      let handle = ''
      let cursor = ''
      let live = false
      while (!controller.signal.aborted) {
        const query = new URLSearchParams({ table, offset })
        if (options.shapePerClient === true) query.set('where', `v >= -${index}`)
        if (handle !== '') query.set('handle', handle)
        if (live) {
          query.set('live', 'true')
          query.set('cursor', cursor)
        }
        const res = await get(`${url}/v1/shape?${query}`, controller.signal)
        if (res.status === 409) {
          handle = res.headers['electric-handle'] ?? ''
          offset = '-1'
          live = false
          continue
        }
        if (res.status !== 200) throw new Error(`raw client: ${res.status} ${res.body}`)
        handle = res.headers['electric-handle'] as string
        offset = res.headers['electric-offset'] as string
        cursor = res.headers['electric-cursor'] ?? cursor
        received(index, JSON.parse(res.body) as Message<Row>[])
        if (!live && res.headers['electric-up-to-date'] !== undefined) {
          live = true
          resolve()
        }
      }
    }
    run().catch((error: unknown) => {
      if (!controller.signal.aborted) reject(error)
    })
  })
}

const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })

/** One GET on a kept-alive connection; the body as text. */
function get(
  target: string,
  signal: AbortSignal,
): Promise<{ status: number; headers: Record<string, string | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(target, { agent, signal }, (res) => {
      res.setEncoding('utf8')
      let body = ''
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string | undefined>, body }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** Starts a round: resolves once every client has received row `id`. */
function awaitRow(id: string): Promise<void> {
  const n = fleet.controllers.length
  fleet.seenAt = new Float64Array(n).fill(Number.NaN)
  fleet.remaining = n
  const allSeen = new Promise<void>((resolve, reject) => {
    const guard = setTimeout(
      () => reject(new Error(`${fleet.remaining} of ${n} clients never saw ${id}`)),
      ROUND_GUARD_MS,
    )
    fleet.onAllSeen = () => {
      clearTimeout(guard)
      resolve()
    }
  })
  fleet.awaitedId = id
  return allSeen
}

/** A Postgres round: rows prefix…prefix+rows-1 in one transaction; latencies from just before its COMMIT. */
async function pgRound(client: pg.Client, prefix: number, rows: number): Promise<void> {
  const allSeen = awaitRow(String(prefix + rows - 1))
  await client.query('BEGIN')
  await client.query(
    "INSERT INTO items (id, v, grp, body) SELECT i, 0, i % 10, repeat('x', 120) FROM generate_series($1::int, $2::int) i",
    [prefix, prefix + rows - 1],
  )
  const start = performance.now()
  await client.query('COMMIT')
  const writeMs = performance.now() - start
  await allSeen
  fleet.awaitedId = null
  fleet.onAllSeen = null
  emit({ event: 'round', latenciesMs: Array.from(fleet.seenAt, (t) => t - start), writeMs, txid: awaitedLsn })
}

let pgClient: pg.Client | undefined
/** The `lsn` header of the awaited row's message: the transaction's tx on the server. */
let awaitedLsn = Number.NaN

async function round(prefix: string, rows: number): Promise<void> {
  if (options.pg !== undefined) {
    if (pgClient === undefined) {
      pgClient = new pg.Client({ connectionString: options.pg })
      await pgClient.connect()
    }
    return pgRound(pgClient, Number(prefix), rows)
  }
  const allSeen = awaitRow(`${prefix}-${rows - 1}`)
  const ops = Array.from({ length: rows }, (_, i) => ({
    op: 'insert',
    row: { id: `${prefix}-${i}`, title: `row ${i} of ${prefix}`, body: 'x'.repeat(120) },
  }))
  const body = JSON.stringify({ ops })
  const start = performance.now()
  const res = await fetch(`${url}/v1/tables/${table}/transactions`, { method: 'POST', body })
  const writeMs = performance.now() - start
  if (!res.ok) throw new Error(`write failed: ${res.status} ${await res.text()}`)
  const { txid } = (await res.json()) as { txid: number }
  await allSeen
  fleet.awaitedId = null
  fleet.onAllSeen = null
  emit({ event: 'round', latenciesMs: Array.from(fleet.seenAt, (t) => t - start), writeMs, txid })
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const command = JSON.parse(line) as { cmd: string; clients?: number; prefix?: string; rows?: number }
  try {
    if (command.cmd === 'grow') {
      await grow(command.clients as number)
      emit({ event: 'grown', clients: fleet.controllers.length })
    } else if (command.cmd === 'round') {
      await round(command.prefix as string, command.rows as number)
    } else if (command.cmd === 'exit') {
      for (const controller of fleet.controllers) controller.abort()
      process.exit(0)
    }
  } catch (error) {
    emit({ event: 'error', message: error instanceof Error ? error.message : String(error) })
    process.exit(1)
  }
}
