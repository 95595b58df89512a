import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * Response helpers shared by the routes: Electric's CORS headers (SRV plug/utils.ex), its
 * error bodies and cache-control values (SRV api/response.ex).
 */

/** Headers a browser client must be allowed to read, or it fails with MissingHeadersError. */
const EXPOSED_HEADERS = [
  'electric-cursor',
  'electric-handle',
  'electric-has-data',
  'electric-offset',
  'electric-schema',
  'electric-up-to-date',
  'electric-internal-known-error',
  'retry-after',
].join(',')

export const CACHE_CONTROL = {
  initial: 'public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746',
  live: 'public, max-age=5, stale-while-revalidate=5',
  catchUp: 'public, max-age=60, stale-while-revalidate=300',
  mustRefetch: 'public, max-age=60, must-revalidate',
  error: 'no-store',
} as const

export function setCors(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin
  res.setHeader('access-control-allow-origin', typeof origin === 'string' ? origin : '*')
  if (typeof origin === 'string') res.setHeader('vary', 'origin')
  res.setHeader('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS')
  res.setHeader('access-control-allow-headers', '*')
  res.setHeader('access-control-expose-headers', EXPOSED_HEADERS)
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json; charset=utf-8', ...headers })
}

export function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers })
  res.end(body)
}

/** Electric's 400: `{"message":"Invalid request","errors":{field:[message]}}`. */
export function sendInvalid(res: ServerResponse, errors: Record<string, string[]>): void {
  sendJson(res, 400, { message: 'Invalid request', errors }, { 'cache-control': CACHE_CONTROL.error })
}

export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { message }, { 'cache-control': CACHE_CONTROL.error, ...headers })
}
