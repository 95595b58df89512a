import type { IncomingMessage, ServerResponse } from 'node:http'
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
  req: IncomingMessage,
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
  req.socket.once('close', () => gone.abort())
  res.once('close', () => gone.abort())
  const deadline = Date.now() + connectionMs
  let offset = request.since
  let cursor = request.cursor
  let first = true
  while (!gone.signal.aborted) {
    const range = request.fromNow && first ? { parts: [], next: offset } : await readRange(store, stream, offset)
    const hasData = range.parts.some((part) => part.length > 2)
    offset = range.next
    const atTail = !offset.isBefore(store.tail(stream))
    const closed = stream.record.closed && atTail
    if (hasData) res.write(dataEvent(textual, bodyOf(stream.config, range.parts)))
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

function dataEvent(textual: boolean, body: Buffer): string {
  const text = textual ? body.toString('utf8') : body.toString('base64')
  const lines = textual ? text.split(/\r\n|\r|\n/) : [text]
  // A field value loses one leading space to the SSE parser: add one only where the line has its own.
  return `event: data\n${lines.map((line) => `data:${line.startsWith(' ') ? ' ' : ''}${line}\n`).join('')}\n`
}
