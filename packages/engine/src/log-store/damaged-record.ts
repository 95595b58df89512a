import { EngineError, ErrorCode } from '../errors.ts'

/**
 * A stored value that does not decode: a length that runs past its value, a row count its bytes
 * cannot hold, a reference to a shared record that is not there. Thrown by the decoders, which
 * know the bytes but not where they came from; the read that called them (readLogJson,
 * readLogStream, the writer's removal) turns it into STORAGE_CORRUPT naming the file and the
 * shape (`corruptRead`). LMDB checksums nothing, so this is what damage inside a page looks like.
 */
export class DamagedRecord extends Error {
  override readonly name = 'DamagedRecord'
}

/** Throws DamagedRecord unless [at, at + bytes) lies inside a value of `length` bytes. */
export function checkSpan(at: number, bytes: number, length: number, what: string): void {
  if (!(bytes >= 0 && at >= 0 && at + bytes <= length)) {
    throw new DamagedRecord(`${what}: bytes ${at}..${at + bytes} of a ${length}-byte value`)
  }
}

/**
 * Runs a read of shape `shapeId` in the partition file `file`; damage met by its decoders (a
 * DamagedRecord, or a RangeError from a read past a buffer) becomes STORAGE_CORRUPT that names
 * the file and the shape and says what to do. Other errors pass unchanged.
 */
export function corruptRead<T>(file: string, shapeId: number, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (!(error instanceof DamagedRecord) && !(error instanceof RangeError)) throw error
    throw new EngineError(
      ErrorCode.STORAGE_CORRUPT,
      `${file}: the data of shape ${shapeId} is damaged (${error.message}). ` +
        'Run `shapestore-verify --dir <data directory>` with the engine closed, and restore the directory from a backup.',
      { cause: error },
    )
  }
}
