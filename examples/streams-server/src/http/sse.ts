import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { LogOffset } from '@shapestore/engine'
import { nextCursor } from '../cursor.ts'
import { bodyOf, readRange } from '../messages.ts'
import { formatOffset } from '../stream-offset.ts'
import { isTextual } from '../stream-record.ts'
import type { Stream, StreamStore } from '../stream-store.ts'
import type { ReadRequest } from './read-routes.ts'
import { waitForData } from './read-routes.ts'
import { COMMON_HEADERS } from './respond.ts'

/**
 * An SSE read (§5.8): every batch of data as an `event: data` (text as is, other content types
 * base64) followed by an `event: control` with the next offset; then it waits for more. Ends
 * after `connectionMs`, when the client goes, or once a closed stream's last data was sent.
 */
export async function streamLive(
  store: StreamStore,
  stream: Stream,
  request: ReadRequest,
  res: ServerResponse,
  connectionMs: number,
): Promise<void> {
  const textual = isTextual(stream.config)
  res.writeHead(200, {
    ...COMMON_HEADERS,
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...(textual ? {} : { 'stream-sse-data-encoding': 'base64' }),
  })
  const gone = new AbortController()
  // The response's close, not its socket's: a kept-alive socket would gather a listener per request.
  res.once('close', () => gone.abort())
  const deadline = Date.now() + connectionMs
  let offset = request.since
  let cursor = request.cursor
  let first = true
  // The connection's time bounds a catch-up too (the client reconnects from the last control
  // event's offset), and a client that stops reading is cut at it: it held the stream and an
  // event in the server for good.
  while (!gone.signal.aborted && Date.now() < deadline) {
    const { event, next } =
      request.fromNow && first ? { event: null, next: offset } : await nextEvent(store, stream, offset)
    const hasData = event !== null
    offset = next
    const atTail = !offset.isBefore(store.tail(stream))
    const closed = stream.record.closed && atTail
    // A client that reads slowly holds one event in the server at a time, not the whole stream.
    if (hasData && !res.write(event) && !(await drained(res, gone.signal, deadline))) {
      res.destroy()
      return
    }
    if (hasData || first || closed) {
      const control: Record<string, unknown> = { streamNextOffset: formatOffset(offset) }
      if (!closed) {
        cursor = nextCursor(cursor)
        control.streamCursor = cursor
      }
      if (atTail) control.upToDate = true
      if (closed) control.streamClosed = true
      res.write(`event: control\ndata:${JSON.stringify(control)}\n\n`)
    }
    first = false
    if (closed) break
    if (atTail) {
      const left = deadline - Date.now()
      if (left <= 0) break
      await waitForData(store, stream, offset, left, gone.signal)
      if (stream.ended.aborted && !stream.record.closed) break
    }
  }
  res.end()
}

/**
 * The data event of the stream's next chunk after `offset` (null when it has no data), and the
 * offset it reaches. Bytes, not a string: Node copies a string it cannot send at once, so a
 * stalled client would hold the event twice; the read's own buffers are let go here.
 */
async function nextEvent(
  store: StreamStore,
  stream: Stream,
  offset: LogOffset,
): Promise<{ event: Buffer | null; next: LogOffset }> {
  const range = await readRange(store, stream, offset)
  const hasData = range.parts.some((part) => part.length > 2)
  return {
    event: hasData ? Buffer.from(dataEvent(isTextual(stream.config), bodyOf(stream.config, range.parts))) : null,
    next: range.next,
  }
}

/**
 * Whether `res` can take more before `deadline`; false if the client is gone or the time is up.
 * A timer of its own, not AbortSignal.timeout: combined with AbortSignal.any that signal can be
 * collected before it fires, and the wait then never ended (2 of 5 runs of the stalled-client
 * test held the stream past 15 s).
 */
async function drained(res: ServerResponse, gone: AbortSignal, deadline: number): Promise<boolean> {
  const left = deadline - Date.now()
  if (left <= 0 || gone.aborted) return false
  const stop = new AbortController()
  const abort = () => stop.abort()
  const timer = setTimeout(abort, left)
  gone.addEventListener('abort', abort)
  try {
    await once(res, 'drain', { signal: stop.signal })
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
    gone.removeEventListener('abort', abort)
  }
}

function dataEvent(textual: boolean, body: Buffer): string {
  const text = textual ? body.toString('utf8') : body.toString('base64')
  const lines = textual ? text.split(/\r\n|\r|\n/) : [text]
  // A field value loses one leading space to the SSE parser: add one only where the line has its own.
  return `event: data\n${lines.map((line) => `data:${line.startsWith(' ') ? ' ' : ''}${line}\n`).join('')}\n`
}
