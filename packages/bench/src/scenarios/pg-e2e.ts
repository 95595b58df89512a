import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median, quantile } from '../stats.ts'
import {
  buildExampleServer,
  type ServerBuild,
  type ServerProcess,
  type ServerStats,
  startServerProcess,
} from './server-process.ts'
import { removeDir, scratchDir } from './workload.ts'
import { allHeld, startClientProcess } from './write-fanout-http.ts'

/**
 * Postgres → the example Electric server (`--pg`, logical replication) → clients, end to end,
 * on a real PostgreSQL 15 (SHAPESTORE_PG_URL, or one started with .ci/postgres.sh):
 * - fanout: one 50-row transaction into FANOUT_SHAPES shapes, one live raw client per shape (in
 *   a client process): commit → durable in every shape's log (the server's replication lag of
 *   that transaction), → each live response written (the server's share), → seen by each client;
 * - sustained: LOAD_CONNECTIONS connections commit 50-row transactions at TARGET_ROWS_PER_S in all
 *   for LOAD_MS, each row going to one of SUSTAINED_SHAPES shapes (`grp = k`): rows/s committed, rows/s
 *   the server applied meanwhile (the backlog left at the end says whether it kept up),
 *   replication lag p50/p99 (of the transactions applied), and where the server's time went
 *   (decoding, where-evaluation and messages, engine appends).
 * - restart: the server with RESTART_SHAPES shapes (`v = k`) stopped, a transaction committed
 *   meanwhile, the server started again: process start → listening, and → that transaction
 *   applied (streaming again); the same with no shapes as the baseline. The server compiled (as
 *   deployed: `pnpm build`, which the scenario runs first), then from source under tsx (as
 *   `pnpm example:server` runs it: tsx alone adds ~0.3 s to a start here).
 * By name only: it starts a server process, a client process and Postgres.
 */
const FANOUT_SHAPES = 1_500
const FANOUT_ROUNDS = 5
const SUSTAINED_SHAPES = 1_000
const LOAD_CONNECTIONS = 4
/** The sustained load's rate, paced across the connections: the issue's goal. */
const TARGET_ROWS_PER_S = 20_000
const LOAD_MS = 10_000
const ROWS_PER_TRANSACTION = 50
/** `PG_E2E_RESTART_SHAPES=n` for a quicker run; creating 50,000 shapes takes minutes. */
const RESTART_SHAPES = Number(process.env.PG_E2E_RESTART_SHAPES ?? 50_000)
const CREATE_IN_FLIGHT = 8
const LONG_POLL_MS = 20_000
const SCRIPT = fileURLToPath(new URL('../../../../.ci/postgres.sh', import.meta.url))

/** `PG_E2E_PARTS=sustained` (a comma list of these; default all): only those parts, e.g. to A/B one. */
const PARTS = ['fanout', 'sustained', 'restart'] as const

function partsToRun(): Set<string> {
  const named = (process.env.PG_E2E_PARTS ?? PARTS.join(',')).split(',').map((part) => part.trim())
  const unknown = named.filter((part) => !(PARTS as readonly string[]).includes(part))
  if (unknown.length > 0)
    throw new Error(`PG_E2E_PARTS: unknown ${unknown.join(', ')}; the parts are ${PARTS.join(', ')}`)
  return new Set(named)
}

export async function pgE2e(context: ScenarioContext): Promise<ScenarioResult> {
  const parts = partsToRun()
  if (parts.has('restart')) buildExampleServer()
  const cluster = startCluster()
  try {
    const metrics: Metric[] = []
    const ratios: Ratio[] = []
    const parameters: Record<string, unknown> = {
      postgres: 'PostgreSQL 15, pgoutput, same machine',
      parts: [...parts],
      fanoutShapes: FANOUT_SHAPES,
      fanoutRounds: FANOUT_ROUNDS,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      sustainedShapes: SUSTAINED_SHAPES,
      loadConnections: LOAD_CONNECTIONS,
      loadMs: LOAD_MS,
      serverWriters: 1,
      clients: 'raw node:http long-poll loops, one per shape, in one client process',
      timed: 'COMMIT sent -> durable in every shape (visible) / each client received the last row (seen)',
      sustainedTargetRowsPerS: TARGET_ROWS_PER_S,
      restartShapes: RESTART_SHAPES,
    }
    if (parts.has('fanout')) {
      const fanout = await onFreshDatabase(cluster.url, 'fanout', (db) => fanoutRounds(context, db))
      metrics.push(
        metric('fanout_visible_ms_median', median(fanout.visibleMs), 'ms', '<= 50'),
        metric('fanout_server_share_max_ms_median', median(fanout.serverMaxMs), 'ms'),
        metric('fanout_all_seen_ms_median', median(fanout.allSeenMs), 'ms', '<= 200'),
        metric('fanout_seen_p50_ms', quantile(fanout.latencies, 0.5), 'ms'),
        metric('fanout_seen_p99_ms', quantile(fanout.latencies, 0.99), 'ms'),
      )
    }
    if (parts.has('sustained')) {
      const sustained = await onFreshDatabase(cluster.url, 'sustained', (db) => sustainedLoad(context, db))
      metrics.push(
        metric('sustained_committed_rows_per_s', sustained.committedRowsPerS, 'rows/s'),
        metric('sustained_applied_rows_per_s', sustained.appliedRowsPerS, 'rows/s'),
        metric('sustained_lag_p50_ms', sustained.lagP50Ms, 'ms'),
        metric('sustained_lag_p99_ms', sustained.lagP99Ms, 'ms', '<= 100'),
      )
      parameters.sustainedBacklogRowsAtEnd = sustained.backlogRows
      parameters.sustainedServerTimeShares = sustained.shares
      // Keeping up with the offered TARGET_ROWS_PER_S: what was applied while it was committed.
      ratios.push(
        ratio('sustained_applied_over_committed', sustained.appliedRowsPerS / sustained.committedRowsPerS, '>= 0.98'),
      )
    }
    if (parts.has('restart')) {
      const restartEmpty = await onFreshDatabase(cluster.url, 'restart0', (db) => restart(context, db, 0))
      const restartFull = await onFreshDatabase(cluster.url, 'restart', (db) => restart(context, db, RESTART_SHAPES))
      metrics.push(
        metric('restart_listening_ms', restartFull.dist.listeningMs, 'ms'),
        metric('restart_streaming_ms', restartFull.dist.streamingMs, 'ms', '<= 1000'),
        metric('restart_streaming_ms_no_shapes', restartEmpty.dist.streamingMs, 'ms'),
        metric('restart_streaming_ms_tsx', restartFull.source.streamingMs, 'ms'),
        metric('restart_streaming_ms_tsx_no_shapes', restartEmpty.source.streamingMs, 'ms'),
      )
      parameters.restartShapesCreatedPerS = restartFull.createdPerS
    }
    parameters.loadAverage = (await import('node:os')).loadavg()
    return { scenario: 'pg-e2e', parameters, metrics, ratios }
  } finally {
    cluster.stop()
  }
}

async function fanoutRounds(context: ScenarioContext, db: string) {
  await sql(db, 'CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, grp int NOT NULL, body text)')
  const dir = scratchDir(context, 'pg-e2e-fanout')
  let server: ServerProcess | undefined
  let clients: ReturnType<typeof startClientProcess> | undefined
  const visibleMs: number[] = []
  const serverMaxMs: number[] = []
  const allSeenMs: number[] = []
  const latencies: number[] = []
  try {
    server = await startPgServer(dir, db)
    clients = startClientProcess(server.url, 'raw', { pg: db, shapePerClient: true })
    await clients.request({ cmd: 'grow', clients: FANOUT_SHAPES }, 'grown')
    let previous = await server.stats()
    for (let round = 0; round < FANOUT_ROUNDS + 1; round++) {
      await allHeld(server, FANOUT_SHAPES)
      const result = (await clients.request(
        { cmd: 'round', prefix: String(1_000_000 + round * 1_000), rows: ROWS_PER_TRANSACTION },
        'round',
      )) as { latenciesMs: number[]; txid: number }
      const stats = await server.stats(result.txid)
      const split = splitMs(previous, stats)
      previous = stats
      if (round === 0) continue // warm-up
      latencies.push(...result.latenciesMs)
      allSeenMs.push(Math.max(...result.latenciesMs))
      visibleMs.push(stats.replication?.lagMs.last ?? Number.NaN)
      serverMaxMs.push(stats.fanout?.maxMs ?? Number.NaN)
      console.log(
        `pg-e2e fanout: ${FANOUT_SHAPES} shapes, visible ${visibleMs.at(-1)?.toFixed(1)} ms (decode ${split.decode.toFixed(1)}, plan ${split.plan.toFixed(1)}, append ${split.append.toFixed(1)}), all seen ${allSeenMs.at(-1)?.toFixed(1)} ms`,
      )
    }
  } finally {
    await clients?.exit()
    await server?.stop()
    removeDir(dir)
  }
  return { visibleMs, serverMaxMs, allSeenMs, latencies }
}

async function sustainedLoad(context: ScenarioContext, db: string) {
  await sql(db, 'CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, grp int NOT NULL, body text)')
  const dir = scratchDir(context, 'pg-e2e-sustained')
  let server: ServerProcess | undefined
  try {
    server = await startPgServer(dir, db)
    for (let k = 0; k < SUSTAINED_SHAPES; k++) {
      const res = await fetch(`${server.url}/v1/shape?table=items&offset=-1&where=${encodeURIComponent(`grp = ${k}`)}`)
      if (!res.ok) throw new Error(`creating shape ${k}: ${res.status}`)
      await res.arrayBuffer()
    }
    const before = await server.stats()
    let committedRows = 0
    let stop = false
    const started = performance.now()
    const loops = Array.from({ length: LOAD_CONNECTIONS }, async (_, c) => {
      const client = new pg.Client({ connectionString: db })
      await client.connect()
      let next = c * 1_000_000_000
      let sent = 0
      const perConnectionTxPerS = TARGET_ROWS_PER_S / ROWS_PER_TRANSACTION / LOAD_CONNECTIONS
      try {
        while (!stop) {
          const due = ((performance.now() - started) / 1000) * perConnectionTxPerS
          if (sent >= due) {
            await sleep(1)
            continue
          }
          sent++
          await client.query(
            `INSERT INTO items (id, v, grp, body) SELECT i, 0, (i * 7919) % ${SUSTAINED_SHAPES}, repeat('x', 120) FROM generate_series($1::bigint, $2::bigint) i`,
            [next, next + ROWS_PER_TRANSACTION - 1],
          )
          next += ROWS_PER_TRANSACTION
          committedRows += ROWS_PER_TRANSACTION
        }
      } finally {
        await client.end()
      }
    })
    await sleep(LOAD_MS)
    stop = true
    await Promise.all(loops)
    const loadS = (performance.now() - started) / 1000
    // What the server applied while the load ran (it keeps up, or the backlog grows).
    const atStop = await server.stats()
    const applied = (atStop.replication?.rows ?? 0) - (before.replication?.rows ?? 0)
    const split = splitMs(before, atStop)
    const busy = split.decode + split.plan + split.append
    console.log(
      `pg-e2e sustained: committed ${Math.round(committedRows / loadS)} rows/s; applied ${Math.round(applied / loadS)} rows/s; backlog at the end ${committedRows - applied} rows`,
    )
    return {
      committedRowsPerS: committedRows / loadS,
      appliedRowsPerS: applied / loadS,
      backlogRows: committedRows - applied,
      lagP50Ms: atStop.replication?.lagMs.p50 ?? Number.NaN,
      lagP99Ms: atStop.replication?.lagMs.p99 ?? Number.NaN,
      shares: { decode: split.decode / busy, plan: split.plan / busy, append: split.append / busy },
    }
  } finally {
    await server?.stop()
    removeDir(dir)
  }
}

/**
 * A server with `shapes` shapes (`v = k`, so the probe rows match none of them) is stopped, a
 * row committed, and the server started again, compiled: process start → listening, → that
 * transaction applied; then the same from source (tsx).
 */
async function restart(context: ScenarioContext, db: string, shapes: number) {
  await sql(db, 'CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, grp int NOT NULL, body text)')
  const dir = scratchDir(context, 'pg-e2e-restart')
  let server: ServerProcess | undefined
  try {
    server = await startPgServer(dir, db)
    const createStart = performance.now()
    let next = 0
    const url = server.url
    await Promise.all(
      Array.from({ length: CREATE_IN_FLIGHT }, async () => {
        for (let k = next++; k < shapes; k = next++) {
          const res = await fetch(`${url}/v1/shape?table=items&offset=-1&where=${encodeURIComponent(`v = ${k}`)}`)
          if (!res.ok) throw new Error(`creating shape ${k}: ${res.status}`)
          await res.arrayBuffer()
        }
      }),
    )
    const createdPerS = shapes / ((performance.now() - createStart) / 1000)
    await server.stop()
    server = undefined
    const restarted = async (build: ServerBuild, id: number) => {
      await sql(db, `INSERT INTO items VALUES (${id}, ${shapes + id}, 0, 'committed while the server was down')`)
      const started = performance.now()
      server = await startPgServer(dir, db, build)
      const listeningMs = performance.now() - started
      for (;;) {
        const { replication } = await server.stats()
        if ((replication?.applied ?? 0) > 0) break
        if (performance.now() - started > 60_000) throw new Error('the restarted server never applied the transaction')
        await sleep(5)
      }
      const streamingMs = performance.now() - started
      await server.stop()
      server = undefined
      console.log(
        `pg-e2e restart (${build}): ${shapes} shapes, listening ${listeningMs.toFixed(0)} ms, streaming ${streamingMs.toFixed(0)} ms`,
      )
      return { listeningMs, streamingMs }
    }
    const dist = await restarted('dist', 1)
    const source = await restarted('source', 2)
    return { dist, source, createdPerS }
  } finally {
    await server?.stop()
    removeDir(dir)
  }
}

/** The server's time per stage between two stats readings, ms. */
function splitMs(from: ServerStats, to: ServerStats): { decode: number; plan: number; append: number } {
  const a = from.replication?.totalMs ?? { decode: 0, plan: 0, append: 0 }
  const b = to.replication?.totalMs ?? { decode: 0, plan: 0, append: 0 }
  return { decode: b.decode - a.decode, plan: b.plan - a.plan, append: b.append - a.append }
}

function startCluster(): { url: string; stop(): void } {
  const url = process.env.SHAPESTORE_PG_URL
  if (url !== undefined) return { url, stop: () => {} }
  const dir = join(tmpdir(), `shapestore-pg-bench-${process.pid}`)
  const started = spawnSync('bash', [SCRIPT, 'start', dir], { encoding: 'utf8' })
  if (started.status !== 0) throw new Error(`PostgreSQL could not be started: ${started.stderr}`)
  return {
    url: started.stdout.trim(),
    stop() {
      spawnSync('bash', [SCRIPT, 'stop', dir])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The example server following `db`, with a slot of its own (slots are the cluster's, not a database's). */
function startPgServer(dir: string, db: string, build: ServerBuild = 'source'): Promise<ServerProcess> {
  const slot = new URL(db).pathname.slice(1)
  return startServerProcess({
    dir,
    longPollMs: LONG_POLL_MS,
    writers: 1,
    extraArgs: ['--pg', db, '--slot', slot],
    build,
  })
}

/**
 * Runs `body` on a new database of the cluster, then drops it and the server's slot (named after
 * it): on a cluster given by SHAPESTORE_PG_URL, a slot left behind would keep every later
 * run's WAL for good (seven runs against one cluster left 28 slots holding 1.1 GB of WAL).
 */
async function onFreshDatabase<T>(clusterUrl: string, name: string, body: (db: string) => Promise<T>): Promise<T> {
  const database = `bench_${name}_${process.pid}`
  await sql(clusterUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await sql(clusterUrl, `CREATE DATABASE ${database}`)
  const url = new URL(clusterUrl)
  url.pathname = `/${database}`
  try {
    return await body(url.toString())
  } finally {
    // The server (the slot's only user) has stopped by now.
    await sql(
      clusterUrl,
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${database}'`,
    )
    await sql(clusterUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  }
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
