import type { IncomingMessage } from 'node:http'
import { HttpError } from './respond.ts'

/**
 * The largest request body the server takes: what always fits the engine's limits, checked here
 * before anything is written or counted. A binary append is one item of base64 (4/3 of the
 * bytes) and a JSON message one item, each at most limits.ITEM_JSON_BYTES_MAX (16 MiB).
 */
export const BODY_BYTES_MAX = 8 * 1024 * 1024

/**
 * The whole request body; 413 past BODY_BYTES_MAX, found from Content-Length or, for a chunked
 * body, once it runs past. The request is not destroyed then (a socket reset instead of the
 * answer); the 413 closes the connection, so what the client still sends is not read for long.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > BODY_BYTES_MAX) throw tooLarge()
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > BODY_BYTES_MAX) throw tooLarge()
    chunks.push(chunk)
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes)
}

function tooLarge(): HttpError {
  return new HttpError(413, `the body is over ${BODY_BYTES_MAX} bytes`, { connection: 'close' })
}
