// A real PostgreSQL for the Postgres-mode tests. .ci/run starts one (.ci/postgres.sh) and sets
// SHAPESTORE_PG_URL and SHAPESTORE_PG_DIR (and SHAPESTORE_PG_REQUIRED=1, so a missing server
// fails instead of skipping); without them the helper starts its own through the same script,
// stopped when the test process exits. Each test gets a database of its own.
import { spawn, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { lsnToNumber } from '../src/pg/lsn.ts'

const SCRIPT = fileURLToPath(new URL('../../../.ci/postgres.sh', import.meta.url))

export interface PgCluster {
  /** The cluster's admin URL (database `postgres`). */
  readonly url: string
  /** Its directory, for restarts. */
  readonly dir: string
}

let cluster: PgCluster | null | undefined

/** The cluster, or a reason it is not there (then the caller skips, unless SHAPESTORE_PG_REQUIRED). */
export function pgCluster(): PgCluster | string {
  if (cluster !== undefined) return cluster ?? 'PostgreSQL could not be started'
  const url = process.env.SHAPESTORE_PG_URL
  const dir = process.env.SHAPESTORE_PG_DIR
  if (url !== undefined && dir !== undefined) {
    cluster = { url, dir }
    return cluster
  }
  const own = join(tmpdir(), `shapestore-pg-test-${process.pid}`)
  const started = spawnSync('bash', [SCRIPT, 'start', own], { encoding: 'utf8' })
  if (started.status !== 0) {
    cluster = null
    rmSync(own, { recursive: true, force: true })
    return `PostgreSQL could not be started: ${started.stderr.trim().split('\n').at(-1)}`
  }
  cluster = { url: started.stdout.trim(), dir: own }
  process.on('exit', () => {
    spawnSync('bash', [SCRIPT, 'stop', own])
    rmSync(own, { recursive: true, force: true })
  })
  return cluster
}

/**
 * A cluster of this test process's own whose next transaction id is `nextXid` (PG_NEXT_XID of
 * .ci/postgres.sh), stopped when the process exits; a reason it could not start (then the
 * caller skips, unless SHAPESTORE_PG_REQUIRED).
 */
export function ownPgClusterAt(nextXid: number): PgCluster | string {
  const own = join(tmpdir(), `shapestore-pg-xid-${process.pid}-${nextXid}`)
  rmSync(own, { recursive: true, force: true })
  const started = spawnSync('bash', [SCRIPT, 'start', own], {
    encoding: 'utf8',
    env: { ...process.env, PG_NEXT_XID: String(nextXid) },
  })
  if (started.status !== 0) {
    rmSync(own, { recursive: true, force: true })
    const reason = `PostgreSQL could not be started: ${started.stderr.trim().split('\n').at(-1)}`
    if (process.env.SHAPESTORE_PG_REQUIRED === '1') throw new Error(reason)
    return reason
  }
  process.on('exit', () => {
    spawnSync('bash', [SCRIPT, 'stop', own])
    rmSync(own, { recursive: true, force: true })
  })
  return { url: started.stdout.trim(), dir: own }
}

/** Skips the test (or fails it, when a server is required) if there is no PostgreSQL. */
export function requirePg(t: { skip(message: string): void }): PgCluster | undefined {
  const found = pgCluster()
  if (typeof found !== 'string') return found
  if (process.env.SHAPESTORE_PG_REQUIRED === '1') throw new Error(found)
  t.skip(found)
  return undefined
}

let databases = 0

/** A new, empty database on the cluster; its URL. */
export async function freshDatabase(on: PgCluster): Promise<string> {
  const name = `t_${process.pid}_${++databases}`
  await withClient(on.url, (client) => client.query(`CREATE DATABASE ${name}`))
  const url = new URL(on.url)
  url.pathname = `/${name}`
  return url.toString()
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

/**
 * Fast restart of the cluster (its clients' connections are cut). Asynchronous: a server in
 * this process must keep answering its walsender, which waits for it before shutting down.
 */
export async function restartPg(on: PgCluster): Promise<void> {
  const child = spawn('bash', [SCRIPT, 'restart', on.dir], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`restarting PostgreSQL failed: ${stderr}`)
}

/** The replication slot's confirmed flush position, as a number (0 if none yet). */
export async function confirmedFlush(url: string, slot: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query<{ lsn: string | null }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )
    const lsn = result.rows[0]?.lsn
    return lsn === null || lsn === undefined ? 0 : lsnToNumber(lsn)
  })
}

type ShapeMessage = {
  key?: string
  value?: Record<string, string | null>
  headers: { operation?: string; control?: string }
}

/**
 * A shape's whole log read over HTTP from offset -1 to the head, applied as the client applies
 * it, with every message checked to apply exactly once: an insert of a key present, or an update
 * or delete of a key absent, is an error (a doubled or a lost change).
 */
export async function readShape(
  serverUrl: string,
  params: Record<string, string>,
): Promise<{ rows: Map<string, Record<string, string | null>>; handle: string }> {
  const rows = new Map<string, Record<string, string | null>>()
  let offset = '-1'
  let handle: string | undefined
  for (let request = 0; request < 10_000; request++) {
    const query = new URLSearchParams({ ...params, offset, ...(handle === undefined ? {} : { handle }) })
    const res = await fetch(`${serverUrl}/v1/shape?${query}`)
    if (res.status !== 200) throw new Error(`GET /v1/shape: ${res.status} ${await res.text()}`)
    handle = res.headers.get('electric-handle') ?? undefined
    offset = res.headers.get('electric-offset') ?? offset
    const messages = (await res.json()) as ShapeMessage[]
    let upToDate = false
    for (const message of messages) {
      if (message.headers.control === 'up-to-date') upToDate = true
      const key = message.key
      if (key === undefined) continue
      const value = message.value ?? {}
      switch (message.headers.operation) {
        case 'insert':
          if (rows.has(key)) throw new Error(`${key} inserted twice`)
          rows.set(key, { ...value })
          break
        case 'update': {
          const row = rows.get(key)
          if (row === undefined) throw new Error(`${key} updated while absent`)
          rows.set(key, { ...row, ...value })
          break
        }
        case 'delete':
          if (!rows.delete(key)) throw new Error(`${key} deleted while absent`)
          break
      }
    }
    if (upToDate) return { rows, handle: handle as string }
  }
  throw new Error('the shape never reached up-to-date')
}
