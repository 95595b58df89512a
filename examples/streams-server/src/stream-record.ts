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
  /**
   * A sliding TTL's window as saved when the stream was let go idle (ms since the epoch): the
   * window lives in memory while the stream is open, and reloading it must not restart it.
   * Cleared on disk when the stream is loaded again: used meanwhile, it would go stale, and a
   * restart would count from it.
   */
  lastAccessMs: number | null
}

/**
 * A record as stored: the fields still at their defaults left out (most streams never get a TTL,
 * a fork, producers, a Stream-Seq or a closure), which halves it (191 -> about 90 bytes of
 * msgpack for a plain stream). A server reads a stream's record page whenever a request first
 * names it, so its records file is resident memory too. Records stored whole (before this) read
 * the same; a server from before this cannot read the new ones (it expects every field).
 */
export type StoredStreamRecord = Omit<Partial<StreamRecord>, 'config'> &
  Pick<StreamRecord, 'handle' | 'createdAtMs'> & {
    readonly config: Partial<StreamConfig> & Pick<StreamConfig, 'contentType'>
  }

export function storedRecord(record: StreamRecord): StoredStreamRecord {
  const { config, closed, closedBy, producers, streamSeq, softDeleted, forks, lastAccessMs } = record
  const storedConfig: { -readonly [K in keyof StreamConfig]?: StreamConfig[K] } & Pick<StreamConfig, 'contentType'> = {
    contentType: config.contentType,
  }
  if (config.ttlSeconds !== null) storedConfig.ttlSeconds = config.ttlSeconds
  if (config.expiresAt !== null) storedConfig.expiresAt = config.expiresAt
  if (config.fork !== null) storedConfig.fork = config.fork
  const stored: { -readonly [K in keyof StoredStreamRecord]: StoredStreamRecord[K] } = {
    config: storedConfig,
    handle: record.handle,
    createdAtMs: record.createdAtMs,
  }
  if (closed) stored.closed = true
  if (closedBy !== null) stored.closedBy = closedBy
  if (Object.keys(producers).length > 0) stored.producers = producers
  if (streamSeq !== null) stored.streamSeq = streamSeq
  if (softDeleted) stored.softDeleted = true
  if (forks.length > 0) stored.forks = forks
  if (lastAccessMs !== null) stored.lastAccessMs = lastAccessMs
  return stored
}

/** The record `stored` holds, every field present (storedRecord's defaults filled in). */
export function recordOf(stored: StoredStreamRecord): StreamRecord {
  const { config } = stored
  return {
    config: {
      contentType: config.contentType,
      ttlSeconds: config.ttlSeconds ?? null,
      expiresAt: config.expiresAt ?? null,
      fork: config.fork ?? null,
    },
    handle: stored.handle,
    createdAtMs: stored.createdAtMs,
    closed: stored.closed ?? false,
    closedBy: stored.closedBy ?? null,
    producers: stored.producers ?? {},
    streamSeq: stored.streamSeq ?? null,
    softDeleted: stored.softDeleted ?? false,
    forks: stored.forks ?? [],
    lastAccessMs: stored.lastAccessMs ?? null,
  }
}

/**
 * When a stream of this configuration expires (ms since the epoch; Infinity: never): at its
 * absolute expiry, or a TTL after `windowStartMs`, its last access, whichever comes first.
 */
export function expiresAtMs(config: StreamConfig, windowStartMs: number): number {
  const sliding = config.ttlSeconds === null ? Number.POSITIVE_INFINITY : windowStartMs + config.ttlSeconds * 1000
  return config.expiresAt === null ? sliding : Math.min(sliding, Date.parse(config.expiresAt))
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
