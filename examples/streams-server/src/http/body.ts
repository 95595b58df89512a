import type { IncomingMessage } from 'node:http'
import { HttpError } from './respond.ts'

/**
 * The largest request body the server takes: what always fits the engine's limits, checked here
 * before anything is written or counted. A binary append is one item of base64 (4/3 of the
 * bytes) and a JSON message one item, each at most limits.ITEM_JSON_BYTES_MAX (16 MiB).
 */
export const BODY_BYTES_MAX = 8 * 1024 * 1024

/**
 * A body over BODY_BYTES_MAX is still read (and dropped) up to this much before the 413: a client
 * still sending when the server answered and closed got its connection reset (EPIPE) instead of
 * the answer, depending on socket buffer timing (the conformance suite's 10 MiB append did).
 */
const DRAINED_BYTES_MAX = 64 * 1024 * 1024

/**
 * The whole request body; 413 past BODY_BYTES_MAX, found from Content-Length or, for a chunked
 * body, once it runs past. The request is not destroyed then (a socket reset instead of the
 * answer): the rest of the body is read and dropped, up to DRAINED_BYTES_MAX, and a body longer
 * than that gets its 413 with the connection closed.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > DRAINED_BYTES_MAX) throw tooLarge(true)
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > DRAINED_BYTES_MAX) throw tooLarge(true)
    if (bytes <= BODY_BYTES_MAX) chunks.push(chunk)
  }
  if (bytes > BODY_BYTES_MAX) throw tooLarge(false)
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes)
}

function tooLarge(closing: boolean): HttpError {
  return new HttpError(413, `the body is over ${BODY_BYTES_MAX} bytes`, closing ? { connection: 'close' } : {})
}
