import { type LogItem, LogOffset, limits } from '@shapestore/engine'
import { HttpError } from './http/respond.ts'
import { isJson, type StreamConfig } from './stream-record.ts'
import type { Stream, StreamStore } from './stream-store.ts'

/**
 * How a stream's bytes become engine items and back. A JSON stream stores one item per message
 * (its JSON text: the engine's read answers a JSON array of them, which is the protocol's
 * response as it is); any other stream stores one item per append, its bytes base64 in a JSON
 * string (the engine's items are text).
 */
const ITEM_KEY = 'm'

/**
 * The items of one append or initial body at engine transaction `tx`. A JSON body is validated
 * and a top-level array flattened one level (§9.1); an empty array is refused unless `emptyOk`.
 */
export function itemsOf(config: StreamConfig, body: Buffer, tx: number, emptyOk: boolean): LogItem[] {
  if (!isJson(config)) {
    if (body.length === 0) return []
    return [{ offset: `${tx}_0`, key: ITEM_KEY, op: 'insert', json: JSON.stringify(body.toString('base64')) }]
  }
  if (body.length === 0) {
    if (emptyOk) return []
    throw new HttpError(400, 'an append needs a body')
  }
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new HttpError(400, 'the body is not valid JSON')
  }
  const messages = Array.isArray(value) ? value : [value]
  if (messages.length === 0 && !emptyOk) throw new HttpError(400, 'an empty JSON array appends nothing')
  if (messages.length > limits.TRANSACTION_ITEMS_MAX) {
    throw new HttpError(413, `an append holds at most ${limits.TRANSACTION_ITEMS_MAX} messages`)
  }
  return messages.map((message, op) => ({
    offset: `${tx}_${op}`,
    key: ITEM_KEY,
    op: 'insert',
    json: withinItemLimit(JSON.stringify(message) ?? 'null', op),
  }))
}

/**
 * A message as the engine stores it may be longer than it was sent: `1E20` comes back from
 * JSON.stringify as 21 digits, so an 8 MiB body can make a 42 MiB item. Refused here, before any
 * offset is handed out, rather than by the engine after (the whole request body, over 8 MiB,
 * is under the transaction limit even so).
 */
function withinItemLimit(json: string, index: number): string {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a shorter string is within the limit.
  if (json.length > limits.ITEM_JSON_BYTES_MAX / 3 && Buffer.byteLength(json) > limits.ITEM_JSON_BYTES_MAX) {
    throw new HttpError(413, `message ${index} is over ${limits.ITEM_JSON_BYTES_MAX} bytes as stored`)
  }
  return json
}

/** One read's data: JSON arrays of engine items, in order, and the offset of the last item read. */
export interface ReadRange {
  readonly parts: Buffer[]
  readonly next: LogOffset
}

/**
 * The stream's items after `since`, up to the end of the engine chunk `since` falls in (or
 * `upTo`): a fork's inherited items come from its source, read the same way, then its own.
 */
export async function readRange(
  store: StreamStore,
  stream: Stream,
  since: LogOffset,
  upTo?: LogOffset,
): Promise<ReadRange> {
  const parts: Buffer[] = []
  let from = since
  const fork = stream.config.fork
  const limit = upTo ?? store.tail(stream)
  if (fork !== null) {
    const through = LogOffset.parse(fork.through)
    if (from.isBefore(through)) {
      const source = store.get(fork.source, { includeExpired: true })
      if (source === undefined) throw new HttpError(500, `the source of fork ${stream.path} is missing`)
      const inherited = await readRange(store, source, from, through.isBefore(limit) ? through : limit)
      parts.push(...inherited.parts)
      from = inherited.next
      // Stop at the fork point when the inherited part was cut short by a chunk end.
      if (from.isBefore(through)) return { parts, next: from }
    }
  }
  if (!from.isBefore(limit)) return { parts, next: from }
  const { handle } = stream.record
  const chunkEnd = store.engine.getChunkEndLogOffset(handle, from)
  const to = chunkEnd?.isBefore(limit) ? chunkEnd : limit
  parts.push(await store.engine.getLogJson(handle, from, to))
  return { parts, next: to }
}

/** The response body of a read: one JSON array for a JSON stream, the bytes for any other. */
export function bodyOf(config: StreamConfig, parts: readonly Buffer[]): Buffer {
  if (isJson(config)) return joinJsonArrays(parts)
  const bytes: Buffer[] = []
  for (const part of parts) {
    for (const base64 of JSON.parse(part.toString('utf8')) as string[]) bytes.push(Buffer.from(base64, 'base64'))
  }
  return Buffer.concat(bytes)
}

/** `[a,b]` + `[]` + `[c]` -> `[a,b,c]`, without parsing the elements. */
function joinJsonArrays(parts: readonly Buffer[]): Buffer {
  const inner = parts.filter((part) => part.length > 2).map((part) => part.subarray(1, part.length - 1))
  if (inner.length === 1 && parts.length === 1) return parts[0] as Buffer
  const pieces: Buffer[] = [OPEN]
  inner.forEach((piece, i) => {
    if (i > 0) pieces.push(COMMA)
    pieces.push(piece)
  })
  pieces.push(CLOSE)
  return Buffer.concat(pieces)
}

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']')
