import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { type Engine, inlineRuntime, lmdbSettled, openEngine } from '@shapestore/engine'
import { workerRuntime } from '@shapestore/workers'
import { open, type RootDatabase } from 'lmdb'
import { headStream, type ReadSettings, readStream } from './http/read-routes.ts'
import { header } from './http/request-headers.ts'
import { COMMON_HEADERS, HttpError, routeError, send } from './http/respond.ts'
import { appendToStream, createStream, deleteStream } from './http/write-routes.ts'
import type { ProducerState, StoredStreamRecord } from './stream-record.ts'
import { type ProducerKey, StreamStore } from './stream-store.ts'

export interface StreamsServerOptions {
  /** Data directory: the engine's in `<dir>/engine`, the stream records in `<dir>/streams`. */
  readonly dir: string
  readonly port?: number
  readonly host?: string
  /** Writer threads; 0 runs the engine inline. Default WRITERS_DEFAULT. */
  readonly writers?: number
  /** The engine's partitions, fixed when the directory is created. Default PARTITIONS_DEFAULT. */
  readonly partitions?: number | undefined
  readonly longPollTimeoutMs?: number
  readonly sseConnectionMs?: number
  /** How long a stream stays in memory unused before the server lets it go. Default IDLE_STREAM_MS_DEFAULT. */
  readonly idleStreamMs?: number
  /** How often the streams on disk are checked for an expiry that passed (StreamStore.expireStored). Default EXPIRY_SCAN_MS_DEFAULT. */
  readonly expiryScanMs?: number
}

export interface StreamsServer {
  readonly url: string
  /** Streams held in memory now (the rest are on disk only). */
  openStreams(): number
  close(): Promise<void>
}

export const LONG_POLL_TIMEOUT_MS_DEFAULT = 20_000
/**
 * One writer thread over two partitions. Measured on 2 cores (32 producers, 200-byte messages,
 * client in the same process), appends/s to 1,000 streams: 1 writer over the engine's default 8
 * partitions 5,037 (each partition a commit touches is one more fdatasync), 1 over 2 6,135, 2
 * over 2 7,093; to one stream 7,269 / 7,750 / 8,031. Two writers were dropped for live reads:
 * after an append load, one long-poll's POST -> answer p50 / p99 was 6.2 / 10.3 ms with 2 writers
 * against 1.9 / 3.4 ms with 1 (before the load about 2.2 / 5.5 ms with either).
 */
export const WRITERS_DEFAULT = 1
export const PARTITIONS_DEFAULT = 2
const SSE_CONNECTION_MS_DEFAULT = 60_000
/** A minute: a stream read or written within it stays in memory; reading one back costs a record get. */
export const IDLE_STREAM_MS_DEFAULT = 60_000
/** A minute: a stream nobody names is deleted at most this long after its TTL or expiry time. */
export const EXPIRY_SCAN_MS_DEFAULT = 60_000
/** The idle sweep's period: idleStreamMs within these bounds (a stream goes up to that much late). */
const IDLE_SWEEP_MS_MIN = 100
const IDLE_SWEEP_MS_MAX = 10_000

/** A Durable Streams server on the engine: every URL path is a stream. */
export async function startStreamsServer(options: StreamsServerOptions): Promise<StreamsServer> {
  const writers = options.writers ?? WRITERS_DEFAULT
  const env = open({ path: join(options.dir, 'streams'), maxDbs: 3 })
  const records = env.openDB<StoredStreamRecord, string>({ name: 'records', encoding: 'msgpack' })
  const producers = env.openDB<ProducerState, ProducerKey>({ name: 'producers', encoding: 'msgpack' })
  let engine: Engine
  try {
    engine = await openEngine({
      dir: join(options.dir, 'engine'),
      partitions: await partitionsOf(env, options.partitions),
      runtime: writers === 0 ? inlineRuntime() : workerRuntime({ writers }),
    })
  } catch (error) {
    await env.close()
    throw error
  }
  const store = new StreamStore(engine, records, producers)
  const idleStreamMs = options.idleStreamMs ?? IDLE_STREAM_MS_DEFAULT
  const sweepMs = Math.min(Math.max(idleStreamMs, IDLE_SWEEP_MS_MIN), IDLE_SWEEP_MS_MAX)
  const sweep = setInterval(() => void store.evictIdle(idleStreamMs), sweepMs)
  sweep.unref()
  // A failure (the records unreadable) is retried at the next scan; expired streams are also
  // deleted when a request names them.
  const expiryScan = setInterval(
    () => void store.expireStored().catch(() => {}),
    options.expiryScanMs ?? EXPIRY_SCAN_MS_DEFAULT,
  )
  expiryScan.unref()
  const settings: ReadSettings = {
    longPollTimeoutMs: options.longPollTimeoutMs ?? LONG_POLL_TIMEOUT_MS_DEFAULT,
    sseConnectionMs: options.sseConnectionMs ?? SSE_CONNECTION_MS_DEFAULT,
  }
  const server = createServer((req, res) => {
    route(store, settings, req, res).catch((error: unknown) => routeError(res, error))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    openStreams: () => store.openCount,
    async close() {
      clearInterval(sweep)
      clearInterval(expiryScan)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await engine.close()
      await env.close()
    },
  }
}

/**
 * The engine's partition count: chosen when the data directory is created (recorded beside the
 * stream records), the recorded one ever after. Asking for another one for an existing
 * directory is an error, not a silent change.
 */
async function partitionsOf(env: RootDatabase, requested: number | undefined): Promise<number> {
  const settings = env.openDB<number, string>({ name: 'settings', encoding: 'msgpack' })
  const recorded = settings.get('partitions')
  if (recorded === undefined) {
    const partitions = requested ?? PARTITIONS_DEFAULT
    await lmdbSettled(settings.put('partitions', partitions))
    return partitions
  }
  if (requested !== undefined && requested !== recorded) {
    throw new Error(`the data directory was created with ${recorded} partitions, not ${requested}`)
  }
  return recorded
}

async function route(
  store: StreamStore,
  settings: ReadSettings,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname
  if (Buffer.byteLength(path) > STREAM_PATH_BYTES_MAX) {
    throw new HttpError(414, `a stream's path is at most ${STREAM_PATH_BYTES_MAX} bytes`)
  }
  switch (req.method) {
    case 'PUT':
      return createStream(store, path, req, res)
    case 'POST':
      return appendToStream(store, path, req, res)
    case 'GET':
      return readStream(store, path, url, req, res, settings)
    case 'HEAD':
      return headStream(store, path, res)
    case 'DELETE':
      return deleteStream(store, path, res)
    case 'OPTIONS':
      return preflight(req, res)
    default:
      send(res, 405, { allow: ALLOWED_METHODS })
  }
}

const ALLOWED_METHODS = 'GET, HEAD, PUT, POST, DELETE, OPTIONS'

/**
 * The longest stream path, in UTF-8 bytes: a path is its record's key, and with a producer's id
 * the key of that producer's state, and LMDB keys stop at 1,978 bytes (a longer path was a 500,
 * after its shape was created).
 */
export const STREAM_PATH_BYTES_MAX = 1024

/** CORS preflight: any method of the protocol, with whatever headers the browser asks for. */
function preflight(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(204, {
    ...COMMON_HEADERS,
    'access-control-allow-methods': ALLOWED_METHODS,
    'access-control-allow-headers': header(req, 'access-control-request-headers') ?? '*',
    'access-control-max-age': '86400',
  })
  res.end()
}
