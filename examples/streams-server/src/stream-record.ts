/**
 * What the server keeps per stream beside its log: the configuration it was created with and
 * the state appends change (closure, idempotent producers, Stream-Seq). Stored as one msgpack
 * record per stream path in the server's own LMDB file; the log itself is the engine's.
 */
export interface StreamConfig {
  /** The content type as created (parameters kept); compared by essence. */
  readonly contentType: string
  readonly ttlSeconds: number | null
  /** The absolute expiry as an RFC 3339 string, as the client sent it. */
  readonly expiresAt: string | null
  /** Set for a fork: the source's path and the engine offset up to which it inherits. */
  readonly fork: ForkOrigin | null
}

export interface ForkOrigin {
  readonly source: string
  /** The last inherited source item, as an engine offset string (`tx_op`, or `0_inf` for none). */
  readonly through: string
  /** Stream-Fork-Sub-Offset as requested (0 when absent): part of the configuration a re-creation must match. */
  readonly subOffset: number
}

export interface ProducerState {
  epoch: number
  seq: number
}

export interface StreamRecord {
  readonly config: StreamConfig
  /** The engine shape holding the log. */
  readonly handle: string
  readonly createdAtMs: number
  closed: boolean
  /** The producer request (id, epoch, seq) that closed the stream, to answer its retries. */
  closedBy: { id: string; epoch: number; seq: number } | null
  producers: Record<string, ProducerState>
  /** The last Stream-Seq accepted (§5.2, scoped per stream). */
  streamSeq: string | null
  /** Deleted while forks still read from it: 410 to clients, kept for the forks. */
  softDeleted: boolean
  /** Paths of the live forks created from this stream. */
  forks: string[]
}

/** The essence of a media type: `type/subtype`, lower case, without parameters. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}

export function isJson(config: StreamConfig): boolean {
  return mediaType(config.contentType) === 'application/json'
}

/** Whether SSE carries the stream's bytes as text (text/* and JSON) or base64 (§5.8). */
export function isTextual(config: StreamConfig): boolean {
  const type = mediaType(config.contentType)
  return type.startsWith('text/') || type === 'application/json'
}
