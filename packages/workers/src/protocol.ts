import { EngineError, type ShapeRef, type WriterOpArgs, type WriterOpName } from '@shapestore/engine'
import type { SlotRef } from './shared-table/slots.ts'

/**
 * Every message that crosses the thread boundary between the main thread (WriterClient) and a
 * writer worker (writer-worker.ts). The operations and their arguments are the engine's
 * (write-ops.ts); this file only frames them. One `ops` message carries every operation the
 * main thread issued for that writer in one turn, with their bulk bytes (transaction records,
 * snapshot parts: already what LMDB stores) in transferred buffers, never cloned; one `done`
 * message per commit answers. Errors are serialised explicitly: a structured clone keeps
 * neither an EngineError's class nor its code. Read-path keys do not travel in messages:
 * writers publish them into the shared table, in the slots the main thread names with every
 * operation (the main thread owns the table: shared-table.ts).
 */

/** What a writer worker needs to start (its `workerData`). */
export interface WriterInit {
  readonly dir: string
  readonly writerIndex: number
  readonly chunkBytesThreshold: number
  readonly partitionMapBytes: number
  /** Shapes whose keys the previous incarnation of this writer may have left stale: republish them. */
  readonly republish: readonly SlottedRef[]
  /** The shared read-path-key table's slot array, which the writer publishes into. */
  readonly slots: SharedArrayBuffer
  /** One Int32 per partition over a SharedArrayBuffer: the writer counts its commits there. */
  readonly commitCounters: Int32Array
}

/** A shape and its slot in the shared table (null: the table had no room for it). */
export interface SlottedRef {
  readonly ref: ShapeRef
  readonly slot: SlotRef | null
}

/**
 * One operation of write-ops.ts, numbered so its answer finds its caller, with the slot of each
 * shape it names (refsOf(args), in order): `[slot, generation]` pairs, slot NO_SLOT for none.
 */
export type OpRequest = {
  readonly [K in WriterOpName]: {
    readonly id: number
    readonly kind: K
    readonly args: WriterOpArgs[K]
    readonly slots: readonly number[]
  }
}[WriterOpName]

/** In OpRequest.slots: the shape has no slot (the table had no room when the operation was sent). */
export const NO_SLOT = -1

export type ToWriter =
  | { readonly type: 'ops'; readonly requests: readonly OpRequest[] }
  /** Commit what is pending, close the environments, answer with `id`. */
  | { readonly type: 'close'; readonly id: number }

export interface FailedOp {
  readonly id: number
  readonly error: SerializedError
}

export type FromWriter =
  | { readonly type: 'ready' }
  /**
   * What one commit (or the operations that finished together) did: the handles whose keys
   * were just published (the main thread wakes their waiters), those of them whose keys could
   * not go into the shared table (no slot: the main thread drops what it holds of them, so
   * reads ask LMDB), then the operations that succeeded and those that failed.
   */
  | {
      readonly type: 'done'
      readonly published: readonly string[]
      readonly unpublished: readonly string[]
      readonly succeeded: readonly number[]
      readonly failed: readonly FailedOp[]
      /** Frame buffers (transfer-frames.ts) no operation refers to any more, transferred back for reuse. */
      readonly frames: readonly ArrayBuffer[]
    }

export interface SerializedError {
  readonly name: string
  readonly message: string
  readonly code?: string
  readonly stack?: string
  readonly cause?: SerializedError
}

/** Causes kept across the boundary, outermost first: enough for any chain the engine makes. */
const CAUSE_DEPTH_MAX = 4

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(error.cause === undefined || depth >= CAUSE_DEPTH_MAX
        ? {}
        : { cause: serializeError(error.cause, depth + 1) }),
    }
  }
  return { name: 'Error', message: String(error) }
}

/** An EngineError with its code when the code is one of ours, a plain Error otherwise; the cause chain kept. */
export function deserializeError(serialized: SerializedError): Error {
  const options = serialized.cause === undefined ? undefined : { cause: deserializeError(serialized.cause) }
  const error =
    serialized.code !== undefined && EngineError.isKnownCode(serialized.code)
      ? new EngineError(serialized.code, serialized.message, options)
      : Object.assign(new Error(serialized.message, options), {
          name: serialized.name,
          ...(serialized.code === undefined ? {} : { code: serialized.code }),
        })
  if (serialized.stack !== undefined) error.stack = serialized.stack
  return error
}
