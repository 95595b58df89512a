import {
  type EncodableRow,
  EngineError,
  type PgSnapshot,
  type ShapeRef,
  type SnapshotPartWrite,
} from '@shapestore/engine'
import type { SharedReadPathTableDescriptor } from './shared-table/shared-table.ts'

/**
 * Every message that crosses the thread boundary between the main thread (WriterClient) and a
 * writer worker (writer-worker.ts). Messages are batched: one `ops` message carries every
 * operation the main thread issued for that writer in one turn, one `results` message every
 * result of one commit. Errors are serialised explicitly: a structured clone keeps neither an
 * EngineError's class nor its code. Read-path keys do not travel in messages: writers publish
 * them into the shared table.
 */

/** What a writer worker needs to start (its `workerData`). */
export interface WriterInit {
  readonly dir: string
  readonly writerIndex: number
  readonly chunkBytesThreshold: number
  readonly partitionMapBytes: number
  /** Shapes whose keys the previous incarnation of this writer may have left stale: republish them. */
  readonly republish: readonly ShapeRef[]
  /** The shared read-path-key table the writer publishes into. */
  readonly table: SharedReadPathTableDescriptor
  /** One Int32 per partition over a SharedArrayBuffer: the writer counts its commits there. */
  readonly commitCounters: Int32Array
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
  /** Handles whose keys were just published in the shared table: the main thread wakes their waiters. */
  | { readonly type: 'published'; readonly handles: readonly string[] }

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
