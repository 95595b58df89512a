import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { ShapeService } from '../shapes/shape-service.ts'
import { WriteError } from '../table/transaction.ts'
import type { FanoutTimes } from './fanout-times.ts'
import { sendError, sendJson } from './responses.ts'

/** Bytes of one transaction's request body. */
export const WRITE_BODY_BYTES_MAX = 16 * 1024 * 1024

/**
 * `POST /v1/tables/<table>/transactions` with `{ "ops": [{ "op", "row" }, ...] }`: one
 * transaction, committed durably and fanned out before the answer
 * `{ "txid": n, "offset": "n_op" }` (`{ "txid": null, "offset": null }` when it changed no row).
 */
export async function handleWrite(
  req: IncomingMessage,
  res: ServerResponse,
  table: string,
  shapes: ShapeService,
  fanoutTimes: FanoutTimes,
): Promise<void> {
  const receivedAt = performance.now()
  const text = await readBody(req, WRITE_BODY_BYTES_MAX)
  if (text === null)
    return sendError(res, 413, `the body is over ${WRITE_BODY_BYTES_MAX} bytes`, { connection: 'close' })
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return sendJson(res, 400, { message: 'Invalid request', errors: { body: ['is not valid JSON'] } })
  }
  try {
    const result = await shapes.write(table, body, (tx) => fanoutTimes.committed(tx, receivedAt))
    sendJson(res, 200, result === null ? { txid: null, offset: null } : { txid: result.tx, offset: result.offset })
  } catch (error) {
    if (!(error instanceof WriteError)) throw error
    const message = error.status === 409 ? 'Conflict' : 'Invalid request'
    sendJson(res, error.status, { message, errors: { [error.field]: [error.message] } })
  }
}

/** The body as UTF-8 text, or null once it passes `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > limit) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
