/**
 * Every failure a caller can cause or meet is an EngineError with a stable `code`.
 * Callers match on `code`, never on message text. The table below is the single source of
 * the codes; packages/engine/README.md's error table documents each one.
 */
export const ErrorCode = {
  /** An option (openEngine, workerRuntime, waitForOffset, listShapes) is missing, unknown, of the wrong type or out of range. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** A string is not a LogOffset in one of Electric's forms (`-1`, `0_n`, `0_inf`, `tx_op`). */
  INVALID_OFFSET: 'INVALID_OFFSET',
  /** A handle is not of the form the engine generates (`<hash>-<microseconds>`). */
  INVALID_HANDLE: 'INVALID_HANDLE',
  /** A shape definition is malformed or exceeds a limit. */
  INVALID_SHAPE: 'INVALID_SHAPE',
  /** A well-formed handle that the catalog does not know (never created, or removed). */
  UNKNOWN_HANDLE: 'UNKNOWN_HANDLE',
  /** A log item or snapshot row is malformed (wrong type, bad op, non-real offset ...). */
  INVALID_ITEM: 'INVALID_ITEM',
  /** A pg snapshot is not one Postgres could produce (xids, xmin <= xip < xmax, its fields). */
  INVALID_PG_SNAPSHOT: 'INVALID_PG_SNAPSHOT',
  /** The offsets of a transaction's items do not strictly increase. */
  OFFSET_OUT_OF_ORDER: 'OFFSET_OUT_OF_ORDER',
  /** One item, row or a whole transaction exceeds its byte or count limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** A shape appears twice in one appendToLogs call. */
  DUPLICATE_SHAPE: 'DUPLICATE_SHAPE',
  /** Reading the snapshot region of a shape whose snapshot was never started. */
  SNAPSHOT_NOT_STARTED: 'SNAPSHOT_NOT_STARTED',
  /** A snapshot is being written for this shape already, or is complete. */
  SNAPSHOT_EXISTS: 'SNAPSHOT_EXISTS',
  /** The snapshot was interrupted (a crash, or a failed makeNewSnapshot) and nobody is writing it. */
  SNAPSHOT_INCOMPLETE: 'SNAPSHOT_INCOMPLETE',
  /** A reader waited longer than snapshotStallTimeoutMs for the next snapshot rows. */
  SNAPSHOT_STALLED: 'SNAPSHOT_STALLED',
  /** The shape was removed while the call waited on it. */
  SHAPE_REMOVED: 'SHAPE_REMOVED',
  /** The wait was aborted through its AbortSignal. */
  ABORTED: 'ABORTED',
  /** The engine was closed before or during the call. */
  ENGINE_CLOSED: 'ENGINE_CLOSED',
  /** Another engine (in this or another process) holds the data directory. */
  DIRECTORY_LOCKED: 'DIRECTORY_LOCKED',
  /** The data directory was created with a different layout (e.g. partition count). */
  CONFIG_MISMATCH: 'CONFIG_MISMATCH',
  /** No room to commit: the disk holding the directory is full. Nothing of the failed commit was written. */
  STORAGE_FULL: 'STORAGE_FULL',
  /** The writer thread that owned the shape died before acknowledging; replaying the call is safe. */
  WRITER_CRASHED: 'WRITER_CRASHED',
  /** LMDB failed a commit or a read for another reason; the cause is attached. */
  STORAGE_ERROR: 'STORAGE_ERROR',
  /** A data file is missing, truncated or garbled (found at open, or by LMDB in a commit); the message names it. */
  STORAGE_CORRUPT: 'STORAGE_CORRUPT',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode))

export class EngineError extends Error {
  override readonly name = 'EngineError'
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  /** True for values that carry one of the engine's codes (also after a structured clone). */
  static isCode(value: unknown, code: ErrorCode): boolean {
    return value instanceof EngineError && value.code === code
  }

  static isKnownCode(code: unknown): code is ErrorCode {
    return typeof code === 'string' && KNOWN_CODES.has(code)
  }
}

/** Wraps an unexpected failure of the storage layer, keeping EngineErrors as they are. */
export function toStorageError(error: unknown, what: string): EngineError {
  if (error instanceof EngineError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (/MDB_MAP_FULL/.test(message)) {
    return new EngineError(ErrorCode.STORAGE_FULL, `${what}: the LMDB map is full (${message})`, { cause: error })
  }
  return new EngineError(ErrorCode.STORAGE_ERROR, `${what}: ${message}`, { cause: error })
}
