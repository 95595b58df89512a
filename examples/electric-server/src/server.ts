import { mkdirSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { type Engine, EngineError, ErrorCode, inlineRuntime, openEngine } from '@shapestore/engine'
import { workerRuntime } from '@shapestore/workers'
import { FanoutTimes } from './http/fanout-times.ts'
import { LogReadCache } from './http/log-read-cache.ts'
import { sendError, sendJson, setCors } from './http/responses.ts'
import { handleShapeDelete } from './http/shape-delete-route.ts'
import { handleShapeGet, type ShapeRouteContext } from './http/shape-route.ts'
import { handleWrite } from './http/write-route.ts'
import { PgFollower } from './pg/pg-follower.ts'
import { PgSource, type PgSourceOptions } from './pg/pg-source.ts'
import { ShapeService } from './shapes/shape-service.ts'
import type { TableSource } from './table/table-source.ts'
import { TableStore } from './table/table-store.ts'

export interface ShapeServerOptions {
  /** Data directory: the engine in `<dir>/engine`, the tables in `<dir>/tables`. Created if missing. */
  readonly dir: string
  /** Default 0: any free port. */
  readonly port?: number | undefined
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** How long a live request is held. Default 20,000 ms (Electric's); must stay below the client's 45 s watchdog. */
  readonly longPollTimeoutMs?: number | undefined
  /** Engine writer threads; 0 runs the writers inline on the main thread. Default 1. */
  readonly writers?: number | undefined
  /** The engine's log chunk size. Default: the engine's (10 MiB, Electric's). */
  readonly chunkBytesThreshold?: number | undefined
  /**
   * Follow Postgres instead of the embedded table store: the tables of a publication, fed from a
   * logical replication slot (src/pg/). Writes then go to Postgres with SQL.
   */
  readonly pg?: PgSourceOptions | undefined
}

export interface ShapeServer {
  /** `http://host:port` */
  readonly url: string
  readonly port: number
  readonly engine: Engine
  /** Stops listening, ends held long-polls, closes the engine and the table store. */
  close(): Promise<void>
}

export const LONG_POLL_TIMEOUT_MS_DEFAULT = 20_000
/** How long after a start in Postgres mode the catalog is scanned for shapes still filtering (ShapeService.collectFiltering). */
const FILTERING_SCAN_DELAY_MS = 30_000
/** The client aborts a live request after 45 s: a hold must end before. */
export const LONG_POLL_TIMEOUT_MS_MAX = 40_000

export async function startShapeServer(options: ShapeServerOptions): Promise<ShapeServer> {
  const longPollTimeoutMs = options.longPollTimeoutMs ?? LONG_POLL_TIMEOUT_MS_DEFAULT
  if (
    !Number.isSafeInteger(longPollTimeoutMs) ||
    longPollTimeoutMs < 1 ||
    longPollTimeoutMs > LONG_POLL_TIMEOUT_MS_MAX
  ) {
    throw new RangeError(`longPollTimeoutMs must be an integer in [1, ${LONG_POLL_TIMEOUT_MS_MAX}]`)
  }
  const writers = options.writers ?? 1
  mkdirSync(options.dir, { recursive: true })
  const engine = await openEngine({
    dir: join(options.dir, 'engine'),
    runtime: writers === 0 ? inlineRuntime() : workerRuntime({ writers }),
    chunkBytesThreshold: options.chunkBytesThreshold,
  })
  let tables: (TableSource & { close(): Promise<void> }) | undefined
  let follower: PgFollower | undefined
  let filteringScan: NodeJS.Timeout | undefined
  try {
    tables =
      options.pg === undefined
        ? TableStore.open(options.dir)
        : await PgSource.open(options.pg, join(options.dir, 'pg-served-tables.json'))
    const shapes = await ShapeService.open(engine, tables)
    const fanoutTimes = new FanoutTimes()
    if (tables instanceof PgSource) {
      // Altered, or dropped and created again, while the server was down: no relation message
      // will say so, so their shapes rotate now.
      for (const table of tables.changedSinceLastRun()) {
        console.error(`table ${table} changed while the server was down: its shapes rotate (409, refetch)`)
        await shapes.rotateTable(table)
      }
      tables.saveServed()
      // A replicated transaction's fanout is timed from its commit in Postgres (this machine's clock).
      follower = await PgFollower.start(tables, shapes, (tx, commitMs) =>
        fanoutTimes.committed(tx, performance.now() - (Date.now() - commitMs)),
      )
      // Shapes of earlier runs that still filter transactions are found by a scan of the catalog
      // some time after the start, not at it (a restart reads nothing per shape). A failure
      // (the server closing) leaves the rest to be met by changes and requests.
      filteringScan = setTimeout(() => void shapes.collectFiltering().catch(() => {}), FILTERING_SCAN_DELAY_MS)
      filteringScan.unref()
    }
    const context: ServerContext = {
      follower,
      engine,
      shapes,
      longPollTimeoutMs,
      logReads: new LogReadCache(),
      fanoutTimes,
    }
    const server = createServer((req, res) => {
      route(req, res, context).catch((error: unknown) => failed(res, error))
    })
    // Thousands of clients keep a connection each; none of Node's defaults should cut a live hold.
    server.requestTimeout = 0
    server.keepAliveTimeout = longPollTimeoutMs + 5_000
    await listen(server, options.port ?? 0, options.host ?? '127.0.0.1')
    const { address, port } = server.address() as AddressInfo
    const host = address.includes(':') ? `[${address}]` : address
    const storeToClose = tables
    let closing: Promise<void> | undefined
    return {
      url: `http://${host}:${port}`,
      port,
      engine,
      // Once, however often called.
      close() {
        closing ??= (async () => {
          clearTimeout(filteringScan)
          const closed = new Promise<void>((resolve) => server.close(() => resolve()))
          server.closeAllConnections()
          await closed
          await follower?.stop()
          await engine.close()
          await storeToClose.close()
        })()
        return closing
      },
    }
  } catch (error) {
    await follower?.stop()
    await engine.close()
    await tables?.close()
    throw error
  }
}

type ServerContext = ShapeRouteContext & { readonly follower: PgFollower | undefined }

async function route(req: IncomingMessage, res: ServerResponse, context: ServerContext): Promise<void> {
  setCors(req, res)
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { 'content-length': '0' })
    res.end()
    return
  }
  if (url.pathname === '/v1/shape') {
    if (req.method === 'GET') return handleShapeGet(res, url, context)
    if (req.method === 'DELETE') return handleShapeDelete(res, url, context.shapes)
    return sendError(res, 405, 'Method not allowed', { allow: 'GET, DELETE, OPTIONS' })
  }
  const write = /^\/v1\/tables\/([^/]+)\/transactions$/.exec(url.pathname)
  if (write !== null) {
    if (req.method !== 'POST') return sendError(res, 405, 'Method not allowed', { allow: 'POST, OPTIONS' })
    return handleWrite(req, res, decodeURIComponent(write[1] as string), context.shapes, context.fanoutTimes)
  }
  if (url.pathname === '/v1/health' && req.method === 'GET') return sendJson(res, 200, { status: 'active' })
  if (url.pathname === '/v1/stats' && req.method === 'GET') return sendJson(res, 200, serverStats(context, url))
  res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
  res.end('Not found')
}

/**
 * `GET /v1/stats[?tx=n]` (this example's, not Electric's): the process's memory and the engine's
 * counters, so a benchmark in another process can wait for its clients' long-polls to be held
 * and read the server's own RSS; with `tx`, the server's share of that transaction's fanout
 * (FanoutTimes).
 */
function serverStats(context: ServerContext, url: URL): Record<string, unknown> {
  const { waiters, readPathMisses, pooledLogReads, catalogRecordsRead, metaRecordsRead } = context.engine.stats()
  const tx = Number(url.searchParams.get('tx'))
  return {
    ...(Number.isSafeInteger(tx) && tx > 0 ? { fanout: context.fanoutTimes.summary(tx) } : {}),
    rssBytes: process.memoryUsage.rss(),
    // resourceUsage reports the peak RSS in KiB.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    waiters,
    shapes: context.engine.countShapes(),
    lastTx: context.shapes.lastTx,
    readPathMisses,
    pooledLogReads,
    catalogRecordsRead,
    metaRecordsRead,
    ...(context.follower === undefined
      ? {}
      : {
          replication: {
            acknowledgedLsn: context.follower.acknowledgedLsn,
            applied: context.follower.applied,
            reconnects: context.follower.reconnects,
            ...context.follower.times.summary(),
          },
        }),
  }
}

/** An unexpected failure: 503 (retried by the client) when the engine is closing, else 500. */
function failed(res: ServerResponse, error: unknown): void {
  if (error instanceof EngineError && error.code === ErrorCode.ENGINE_CLOSED) {
    sendError(res, 503, 'the server is shutting down', { 'retry-after': '1' })
  } else if (error instanceof URIError) {
    sendError(res, 400, 'malformed URL encoding')
  } else {
    console.error(error)
    sendError(res, 500, 'internal error')
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
