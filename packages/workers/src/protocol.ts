import {
  type EncodableRow,
  EngineError,
  LogOffset,
  type PgSnapshot,
  type ReadPathKeys,
  type ShapeRef,
  type SnapshotPartWrite,
} from '@shapestore/engine'

/**
 * Every message that crosses the thread boundary between the main thread (WriterClient) and a
 * writer worker (writer-worker.ts). Messages are batched: one `ops` message carries every
 * operation the main thread issued for that writer in one turn, one `results` message every
 * result of one commit. Errors and offsets are serialised explicitly: a structured clone keeps
 * neither an EngineError's class nor a LogOffset's prototype.
 */

/** What a writer worker needs to start (its `workerData`). */
export interface WriterInit {
  readonly dir: string
  readonly writerIndex: number
  readonly chunkBytesThreshold: number
  readonly partitionMapBytes: number
  /** Shapes whose keys the previous incarnation of this writer may have left stale: republish them. */
  readonly republish: readonly ShapeRef[]
}

export type WriterOp =
  /** One transaction into one or more shapes; the rows travel once per message. */
  | { readonly kind: 'append'; readonly refs: readonly ShapeRef[]; readonly rows: readonly EncodableRow[] }
  | { readonly kind: 'setPgSnapshot'; readonly ref: ShapeRef; readonly pgSnapshot: PgSnapshot }
  | { readonly kind: 'markSnapshotStarted'; readonly ref: ShapeRef }
  | { readonly kind: 'startSnapshot'; readonly ref: ShapeRef }
  | { readonly kind: 'writeSnapshotPart'; readonly ref: ShapeRef; readonly write: SnapshotPartWrite }
  | { readonly kind: 'hibernate'; readonly ref: ShapeRef }
  | { readonly kind: 'drop'; readonly ref: ShapeRef }
  | { readonly kind: 'close' }

export interface OpRequest {
  readonly id: number
  readonly op: WriterOp
}

export type ToWriter = { readonly type: 'ops'; readonly requests: readonly OpRequest[] }

export interface OpResult {
  readonly id: number
  readonly error?: SerializedError
}

export type FromWriter =
  | { readonly type: 'ready' }
  | { readonly type: 'results'; readonly results: readonly OpResult[] }
  | { readonly type: 'published'; readonly entries: readonly PublishedKeys[] }

export interface SerializedError {
  readonly name: string
  readonly message: string
  readonly code?: string
  readonly stack?: string
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack === undefined ? {} : { stack: error.stack }),
    }
  }
  return { name: 'Error', message: String(error) }
}

/** An EngineError with its code when the code is one of ours, a plain Error otherwise. */
export function deserializeError(serialized: SerializedError): Error {
  const error =
    serialized.code !== undefined && EngineError.isKnownCode(serialized.code)
      ? new EngineError(serialized.code, serialized.message)
      : Object.assign(new Error(serialized.message), { name: serialized.name })
  if (serialized.stack !== undefined) error.stack = serialized.stack
  return error
}

/** ReadPathKeys with offsets as [tx, op] pairs. */
export interface PublishedKeys {
  readonly handle: string
  readonly latestOffset: readonly [number, number]
  readonly lastPersistedOffset: readonly [number, number]
  readonly pgSnapshot: PgSnapshot | null
  readonly snapshotStarted: boolean
  readonly lastSnapshotChunk: number | null
}

export function encodeKeys(handle: string, keys: ReadPathKeys): PublishedKeys {
  return {
    handle,
    latestOffset: [keys.latestOffset.tx, keys.latestOffset.op],
    lastPersistedOffset: [keys.lastPersistedOffset.tx, keys.lastPersistedOffset.op],
    pgSnapshot: keys.pgSnapshot,
    snapshotStarted: keys.snapshotStarted,
    lastSnapshotChunk: keys.lastSnapshotChunk,
  }
}

export function decodeKeys(published: PublishedKeys): ReadPathKeys {
  return {
    latestOffset: LogOffset.of(published.latestOffset[0], published.latestOffset[1]),
    lastPersistedOffset: LogOffset.of(published.lastPersistedOffset[0], published.lastPersistedOffset[1]),
    pgSnapshot: published.pgSnapshot,
    snapshotStarted: published.snapshotStarted,
    lastSnapshotChunk: published.lastSnapshotChunk,
  }
}
