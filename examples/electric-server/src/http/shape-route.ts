import type { ServerResponse } from 'node:http'
import { type Engine, EngineError, ErrorCode, type LogOffset, type ShapeHandle } from '@shapestore/engine'
import { isShapeGone, type ShapeService } from '../shapes/shape-service.ts'
import { ShapeParamError, type ShapeSpec } from '../shapes/shape-spec.ts'
import { schemaEntry } from '../table/pg-types.ts'
import type { FanoutTimes } from './fanout-times.ts'
import { nextCursor } from './live-cursor.ts'
import type { LogReadCache } from './log-read-cache.ts'
import { CACHE_CONTROL, send, sendInvalid } from './responses.ts'
import { parseShapeRequest, type ShapeRequest } from './shape-request.ts'

export interface ShapeRouteContext {
  readonly engine: Engine
  readonly shapes: ShapeService
  /** How long a live request is held before `200 [up-to-date]` (Electric: 20 s; below the client's 45 s watchdog). */
  readonly longPollTimeoutMs: number
  readonly logReads: LogReadCache
  readonly fanoutTimes: FanoutTimes
}

const MUST_REFETCH_BODY = JSON.stringify([{ headers: { control: 'must-refetch' } }])

/**
 * `GET /v1/shape`: Electric's shape log protocol (README, "Protocol"). Every 2xx carries
 * `electric-handle` and `electric-offset`; non-live ones `electric-schema`, live ones
 * `electric-cursor` (never the other way round: a cursor on a non-live response can make a
 * later client suppress its first up-to-date). A response reaching the log head ends with an
 * up-to-date control message, except the `offset=-1` one (Electric's rule, which keeps it
 * cacheable).
 */
export async function handleShapeGet(res: ServerResponse, url: URL, context: ShapeRouteContext): Promise<void> {
  const request = parseShapeRequest(url.searchParams)
  if ('errors' in request) return sendInvalid(res, request.errors)
  let spec: ShapeSpec
  try {
    spec = await context.shapes.resolveFresh(request.shape)
  } catch (error) {
    if (error instanceof ShapeParamError) return sendInvalid(res, { [error.field]: [error.message] })
    throw error
  }

  const disconnect = new DisconnectSignal(res)
  try {
    let handle: ShapeHandle
    if (request.handle === undefined) {
      handle = await context.shapes.getOrCreate(spec)
    } else {
      const current = context.shapes.handleOf(spec)
      if (current !== request.handle) return mustRefetch(res, await context.shapes.getOrCreate(spec))
      handle = current
    }
    await serve(res, context, spec, handle, request, disconnect)
  } catch (error) {
    // Removed or rotated meanwhile: the shape's current handle, under today's schema.
    if (isShapeGone(error))
      return mustRefetch(res, await context.shapes.getOrCreate(context.shapes.resolve(request.shape)))
    if (error instanceof EngineError && error.code === ErrorCode.ABORTED) return
    throw error
  } finally {
    disconnect.release()
  }
}

/**
 * An AbortSignal that fires when the client disconnects (or the server closes), so a held
 * long-poll ends with it. Made only for a request that waits: most responses go out at once,
 * and an AbortController per request was a measurable share of the fanout's CPU.
 */
class DisconnectSignal {
  readonly #res: ServerResponse
  #controller: AbortController | undefined
  readonly #onClose = () => this.#controller?.abort()

  constructor(res: ServerResponse) {
    this.#res = res
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      this.#res.once('close', this.#onClose)
    }
    return this.#controller.signal
  }

  release(): void {
    if (this.#controller !== undefined) this.#res.off('close', this.#onClose)
  }
}

async function serve(
  res: ServerResponse,
  context: ShapeRouteContext,
  spec: ShapeSpec,
  handle: ShapeHandle,
  request: ShapeRequest,
  disconnect: DisconnectSignal,
): Promise<void> {
  const { engine } = context
  const headers: Record<string, string> = { 'electric-handle': handle }
  if (request.live) headers['electric-cursor'] = nextCursor(context.longPollTimeoutMs, request.cursor)
  // The registered spec: the request's may predate a schema change that rotated the shape.
  else headers['electric-schema'] = schemaHeader(context.shapes.specOf(handle) ?? spec)

  if (request.offset === 'now') {
    headers['electric-offset'] = engine.fetchLatestOffset(handle).toString()
    return sendUpToDate(res, context, headers, CACHE_CONTROL.catchUp)
  }
  const offset = request.offset
  let latest = engine.fetchLatestOffset(handle)
  if (offset.isAfter(latest)) {
    // Electric holds an offset past the shape's end for half the long-poll window (storage may
    // be catching up, e.g. after a failover), then gives up with a 400.
    const deadline = Date.now() + Math.floor(context.longPollTimeoutMs / 2)
    while (offset.isAfter(latest) && Date.now() < deadline) {
      const timeoutMs = Math.max(0, deadline - Date.now())
      await engine.waitForOffset(handle, latest, { timeoutMs, signal: disconnect.signal })
      latest = engine.fetchLatestOffset(handle)
    }
    if (offset.isAfter(latest)) return sendInvalid(res, { offset: ['out of bounds for this shape'] })
  }
  if (request.live && offset.equals(latest)) {
    const moved = await engine.waitForOffset(handle, offset, {
      timeoutMs: context.longPollTimeoutMs,
      signal: disconnect.signal,
    })
    if (!moved) {
      headers['electric-offset'] = offset.toString()
      return sendUpToDate(res, context, headers, CACHE_CONTROL.live)
    }
  }

  const chunkEnd = engine.getChunkEndLogOffset(handle, offset) ?? engine.fetchLatestOffset(handle)
  latest = engine.fetchLatestOffset(handle)
  const upToDate = !offset.isBeforeAll && !chunkEnd.isBefore(latest)
  const body = await context.logReads.read(engine, handle, offset, chunkEnd)
  headers['electric-offset'] = chunkEnd.toString()
  headers['content-type'] = 'application/json; charset=utf-8'
  headers['cache-control'] = offset.isBeforeAll
    ? CACHE_CONTROL.initial
    : request.live
      ? CACHE_CONTROL.live
      : CACHE_CONTROL.catchUp
  if (upToDate) headers['electric-up-to-date'] = ''
  send(res, 200, upToDate ? withUpToDate(body, upToDateMessage(context, chunkEnd)) : body, headers)
  if (request.live && chunkEnd.isReal) context.fanoutTimes.served(chunkEnd.tx)
}

function sendUpToDate(
  res: ServerResponse,
  context: ShapeRouteContext,
  headers: Record<string, string>,
  cacheControl: string,
): void {
  headers['electric-up-to-date'] = ''
  headers['cache-control'] = cacheControl
  headers['content-type'] = 'application/json; charset=utf-8'
  send(res, 200, `[${upToDateMessage(context)}]`, headers)
}

/**
 * The up-to-date control message. `global_last_seen_lsn`: the last transaction fully fanned
 * out, or the response's own last transaction if later (a shape's part of a transaction is
 * served as soon as it commits, before the other shapes' parts). A decimal string: the client
 * feeds it to BigInt().
 */
function upToDateMessage(context: ShapeRouteContext, servedUpTo?: LogOffset): string {
  const lsn = Math.max(context.shapes.lastFannedOutTx, servedUpTo?.tx ?? 0)
  return `{"headers":{"control":"up-to-date","global_last_seen_lsn":"${lsn}"}}`
}

/**
 * `[a,b]` + m → `[a,b,m]`; `[]` + m → `[m]`. The clients a transaction wakes share one log read
 * (LogReadCache) and one up-to-date message, so they share the result too.
 */
function withUpToDate(array: Buffer, message: string): Buffer {
  const last = withUpToDateMemo.get(array)
  if (last !== undefined && last.message === message) return last.body
  const body =
    array.length <= 2
      ? Buffer.from(`[${message}]`)
      : Buffer.concat([array.subarray(0, array.length - 1), Buffer.from(`,${message}]`)])
  withUpToDateMemo.set(array, { message, body })
  return body
}

const withUpToDateMemo = new WeakMap<Buffer, { readonly message: string; readonly body: Buffer }>()

const schemaHeaders = new WeakMap<ShapeSpec, string>()

function schemaHeader(spec: ShapeSpec): string {
  let header = schemaHeaders.get(spec)
  if (header === undefined) {
    const json = JSON.stringify(Object.fromEntries(spec.columns.map((column) => [column.name, schemaEntry(column)])))
    // A header value must be Latin-1 (Node rejects anything else): escape non-ASCII column
    // names as JSON \u escapes, which JSON.parse reads back the same.
    header = json.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
    schemaHeaders.set(spec, header)
  }
  return header
}

/** 409 with the shape's current handle (never a reused one); the client resets to offset -1 with it. */
function mustRefetch(res: ServerResponse, handle: ShapeHandle): void {
  send(res, 409, MUST_REFETCH_BODY, {
    'electric-handle': handle,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': CACHE_CONTROL.mustRefetch,
  })
}
