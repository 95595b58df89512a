import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LogOffset } from '@shapestore/engine'
import { nextCursor } from '../cursor.ts'
import { bodyOf, readRange } from '../messages.ts'
import { formatOffset, parseOffset } from '../stream-offset.ts'
import { isJson } from '../stream-record.ts'
import type { Stream, StreamStore } from '../stream-store.ts'
import { header } from './request-headers.ts'
import { CACHEABLE, type Headers, HttpError, send } from './respond.ts'
import { streamLive } from './sse.ts'
import { liveStream, streamHeaders } from './stream-answers.ts'

export interface ReadSettings {
  readonly longPollTimeoutMs: number
  /** How long an SSE connection stays open before the server ends it (§10.2: ~60 s). */
  readonly sseConnectionMs: number
}

/** What a GET asks for: where to start, and how to wait. */
export interface ReadRequest {
  readonly since: LogOffset
  readonly fromNow: boolean
  readonly live: 'long-poll' | 'sse' | null
  readonly cursor: string | null
}

/** HEAD (§5.5): metadata, never cached, and no TTL refresh. */
export function headStream(store: StreamStore, path: string, res: ServerResponse): void {
  const stream = liveStream(store, path)
  const headers = streamHeaders(store, stream)
  headers['cache-control'] = 'no-store'
  const { ttlSeconds, expiresAt } = stream.config
  if (ttlSeconds !== null) headers['stream-ttl'] = ttlSeconds
  if (expiresAt !== null) headers['stream-expires-at'] = expiresAt
  send(res, 200, headers)
}

/** GET: catch-up (§5.6), long-poll (§5.7) or SSE (§5.8). */
export async function readStream(
  store: StreamStore,
  path: string,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
  settings: ReadSettings,
): Promise<void> {
  const stream = liveStream(store, path)
  const request = readRequest(store, stream, url)
  stream.lastAccessMs = Date.now()
  const answer =
    request.live === 'sse'
      ? streamLive(store, stream, request, res, settings.sseConnectionMs)
      : answerRead(store, stream, request, req, res, settings)
  // A live read waits on this object's end signal: it holds the stream while it runs, and is an
  // access until it ends (a sliding TTL shorter than the wait deleted the stream under it).
  if (request.live === null) return answer
  return stream.holding(answer).finally(() => {
    stream.lastAccessMs = Date.now()
  })
}

async function answerRead(
  store: StreamStore,
  stream: Stream,
  request: ReadRequest,
  req: IncomingMessage,
  res: ServerResponse,
  settings: ReadSettings,
): Promise<void> {
  const ended = new AbortController()
  res.once('close', () => ended.abort())
  let range = await readRange(store, stream, request.since)
  const waits = request.live === 'long-poll' && !(request.fromNow && stream.record.closed)
  if (waits && range.parts.every((part) => part.length <= 2) && !stream.record.closed) {
    const woke = await waitForData(store, stream, request.since, settings.longPollTimeoutMs, ended.signal)
    if (ended.signal.aborted) return
    if (woke) range = await readRange(store, stream, request.since)
  }
  const tail = store.tail(stream)
  const atTail = !range.next.isBefore(tail)
  const closedHere = stream.record.closed && atTail
  const empty = range.parts.every((part) => part.length <= 2)
  const headers: Headers = { 'stream-next-offset': formatOffset(range.next) }
  if (atTail) headers['stream-up-to-date'] = 'true'
  if (closedHere) headers['stream-closed'] = 'true'
  if (request.live !== null && !closedHere) headers['stream-cursor'] = nextCursor(request.cursor)
  if (request.live === 'long-poll' && empty) {
    send(res, 204, headers)
    return
  }
  const body =
    request.fromNow && request.live === null
      ? Buffer.from(isJson(stream.config) ? '[]' : '')
      : bodyOf(stream.config, range.parts)
  headers['content-type'] = stream.config.contentType
  if (request.fromNow) headers['cache-control'] = 'no-store'
  else {
    const etag = `"${stream.record.handle}:${formatOffset(request.since)}:${formatOffset(range.next)}${closedHere ? ':c' : ''}"`
    headers.etag = etag
    headers['cache-control'] = CACHEABLE
    if (header(req, 'if-none-match') === etag) {
      send(res, 304, headers)
      return
    }
  }
  send(res, 200, headers, body)
}

function readRequest(store: StreamStore, stream: Stream, url: URL): ReadRequest {
  const offsets = url.searchParams.getAll('offset')
  const lives = url.searchParams.getAll('live')
  if (offsets.length > 1 || lives.length > 1) throw new HttpError(400, 'offset and live may be given once')
  const live = lives[0] ?? null
  if (live !== null && live !== 'long-poll' && live !== 'sse') throw new HttpError(400, `unknown live mode ${live}`)
  const offsetText = offsets[0]
  if (live !== null && offsetText === undefined) throw new HttpError(400, 'a live read needs an offset')
  const fromNow = offsetText === 'now'
  let since: LogOffset | null
  if (offsetText === undefined || offsetText === '') since = offsetText === '' ? null : parseOffset('-1')
  else since = fromNow ? store.tail(stream) : parseOffset(offsetText)
  if (since === null) throw new HttpError(400, 'offset is not an offset of this server')
  if (since.isAfter(store.tail(stream))) throw new HttpError(400, 'offset is past the stream tail')
  return { since, fromNow, live, cursor: url.searchParams.get('cursor') }
}

/**
 * Waits until the stream has data after `since`, closes, is deleted, or `timeoutMs` passes;
 * resolves whether data arrived. Only the stream's own appends wake it (a fork's source does not).
 */
export async function waitForData(
  store: StreamStore,
  stream: Stream,
  since: LogOffset,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  // One controller per wait, tied to both signals by listeners removed after it: AbortSignal.any
  // would register every wait with the stream's long-lived `ended` signal.
  const wait = new AbortController()
  const abort = () => wait.abort()
  const { ended } = stream
  if (signal.aborted || ended.aborted) abort()
  signal.addEventListener('abort', abort)
  ended.addEventListener('abort', abort)
  try {
    const woke = await store.engine.waitForOffset(stream.record.handle, since, { timeoutMs, signal: wait.signal })
    // A timeout that fired in the turn data was committed (the wake comes a turn after the
    // commit) must not answer 204 at an offset the tail has passed, without Stream-Up-To-Date.
    return woke || store.tail(stream).isAfter(since)
  } catch (error) {
    if (wait.signal.aborted) return store.tail(stream).isAfter(since)
    throw error
  } finally {
    signal.removeEventListener('abort', abort)
    ended.removeEventListener('abort', abort)
  }
}
