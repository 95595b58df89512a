import type { IncomingMessage } from 'node:http'
import { HttpError } from './respond.ts'

/** A non-negative decimal integer without sign, leading zeros, point or exponent, up to 2^53 - 1. */
const PLAIN_INTEGER = /^(0|[1-9]\d{0,15})$/
/** RFC 3339 date-time. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** `Stream-Closed` counts only when it is exactly `true`, in any case (§4.1). */
export function closedHeader(req: IncomingMessage): boolean {
  return header(req, 'stream-closed')?.trim().toLowerCase() === 'true'
}

export function plainInteger(text: string, name: string): number {
  const value = Number(text)
  if (!PLAIN_INTEGER.test(text) || !Number.isSafeInteger(value)) {
    throw new HttpError(400, `${name} must be a non-negative integer without sign or leading zeros`)
  }
  return value
}

/** Stream-TTL and Stream-Expires-At of a creation: at most one of them. */
export function expiryHeaders(req: IncomingMessage): { ttlSeconds: number | null; expiresAt: string | null } {
  const ttl = header(req, 'stream-ttl')
  const expires = header(req, 'stream-expires-at')
  if (ttl !== undefined && expires !== undefined) {
    throw new HttpError(400, 'Stream-TTL and Stream-Expires-At exclude each other')
  }
  if (expires !== undefined && (!RFC3339.test(expires.trim()) || Number.isNaN(Date.parse(expires.trim())))) {
    throw new HttpError(400, 'Stream-Expires-At must be an RFC 3339 date-time')
  }
  return {
    ttlSeconds: ttl === undefined ? null : plainInteger(ttl.trim(), 'Stream-TTL'),
    expiresAt: expires === undefined ? null : expires.trim(),
  }
}

export interface ProducerRequest {
  readonly id: string
  readonly epoch: number
  readonly seq: number
}

/** Producer-Id, -Epoch and -Seq (§5.2.1): all three or none. */
/** A producer's id is part of its state's key, after the stream's path (STREAM_PATH_BYTES_MAX). */
export const PRODUCER_ID_BYTES_MAX = 512

export function producerHeaders(req: IncomingMessage): ProducerRequest | null {
  const id = header(req, 'producer-id')
  const epoch = header(req, 'producer-epoch')
  const seq = header(req, 'producer-seq')
  if (id === undefined && epoch === undefined && seq === undefined) return null
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw new HttpError(400, 'Producer-Id, Producer-Epoch and Producer-Seq go together')
  }
  if (id.trim() === '') throw new HttpError(400, 'Producer-Id must not be empty')
  if (Buffer.byteLength(id) > PRODUCER_ID_BYTES_MAX) {
    throw new HttpError(400, `Producer-Id is at most ${PRODUCER_ID_BYTES_MAX} bytes`)
  }
  // A record's producers are an object's keys: this one would set its prototype, and msgpack renames it.
  if (id === '__proto__') throw new HttpError(400, 'Producer-Id __proto__ is reserved')
  return { id, epoch: plainInteger(epoch.trim(), 'Producer-Epoch'), seq: plainInteger(seq.trim(), 'Producer-Seq') }
}
