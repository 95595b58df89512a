import type { ServerResponse } from 'node:http'
import { EngineError, ErrorCode } from '@shapestore/engine'

/** Headers a browser client may read (CORS), the protocol's and the caching ones. */
const EXPOSED_HEADERS = [
  'Stream-Next-Offset',
  'Stream-Cursor',
  'Stream-Up-To-Date',
  'Stream-Closed',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-SSE-Data-Encoding',
  'Producer-Epoch',
  'Producer-Seq',
  'Producer-Expected-Seq',
  'Producer-Received-Seq',
  'ETag',
  'Location',
  'Content-Type',
].join(', ')

/** Sent on every response, errors included: browser hardening and CORS. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'cross-origin',
  'access-control-allow-origin': '*',
  'access-control-expose-headers': EXPOSED_HEADERS,
}

/** Catch-up and long-poll data (§10.1): shared streams, cacheable by offset. */
export const CACHEABLE = 'public, max-age=60, stale-while-revalidate=300'

export type Headers = Record<string, string | number>

export function send(res: ServerResponse, status: number, headers: Headers, body?: Buffer | string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body
  // Not `{ ...COMMON_HEADERS, ...headers, 'content-length': n }`: on Node 20 a spread followed by a
  // property it lacks takes a runtime slow path, ~4 µs a response (the engine's write-ops.ts).
  const all: Headers = Object.assign({}, COMMON_HEADERS, headers)
  // None where HTTP forbids it or it would not be the GET's length (RFC 9110 §8.6): a 204, a
  // 304, the answer to a HEAD (Node sends no body for those).
  if (status !== 204 && status !== 304 && res.req.method !== 'HEAD') all['content-length'] = bytes?.length ?? 0
  res.writeHead(status, all)
  res.end(bytes)
}

/** An error answer: a reason in plain text (clients go by the status and headers). */
export function fail(res: ServerResponse, status: number, reason: string, headers: Headers = {}): void {
  send(res, status, { 'content-type': 'text/plain; charset=utf-8', ...headers }, reason)
}

/** A request the server refuses: carries its status, reason and headers to the route's catch. */
export class HttpError extends Error {
  readonly status: number
  readonly headers: Headers

  constructor(status: number, reason: string, headers: Headers = {}) {
    super(reason)
    this.status = status
    this.headers = headers
  }
}

/** The answer to a request that failed: its HttpError, or the status an engine error stands for. */
export function routeError(res: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) {
    fail(res, error.status, error.message, error.headers)
    return
  }
  const status = error instanceof EngineError ? ENGINE_ERROR_STATUS[error.code] : undefined
  if (status !== undefined) {
    fail(res, status, `${(error as EngineError).code}: ${(error as EngineError).message}`)
    return
  }
  console.error(error)
  fail(res, error instanceof EngineError ? 503 : 500, error instanceof EngineError ? error.code : 'internal error')
}

/** Engine errors a request can cause; any other is the server's failure (503 for the engine's, else 500). */
const ENGINE_ERROR_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.TOO_LARGE]: 413,
  [ErrorCode.INVALID_ITEM]: 400,
  // A stream deleted while the request was in flight.
  [ErrorCode.SHAPE_REMOVED]: 404,
  [ErrorCode.UNKNOWN_HANDLE]: 404,
  [ErrorCode.STORAGE_FULL]: 507,
}
