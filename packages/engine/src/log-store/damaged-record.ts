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

/** LMDB's own words for a page that is not what it should be. */
export const LMDB_CORRUPTION = /MDB_CORRUPTED|MDB_PAGE_NOTFOUND|page was wrong type/

/**
 * A read transaction LMDB gave up on: after it met a damaged page (MDB_CORRUPTED or
 * MDB_PAGE_NOTFOUND), every later read in it fails with MDB_BAD_TXN.
 */
const LMDB_READ_GAVE_UP = /MDB_BAD_TXN/

/** Whether a read's failure is damage: met by the decoders, or by LMDB in its pages. */
function isDamage(error: unknown): error is Error {
  if (error instanceof DamagedRecord || error instanceof RangeError) return true
  return error instanceof Error && (LMDB_CORRUPTION.test(error.message) || LMDB_READ_GAVE_UP.test(error.message))
}

/**
 * Runs a read of shape `shapeId` in the partition file `file`; damage met by its decoders (a
 * DamagedRecord, or a RangeError from a read past a buffer) or by LMDB in a page becomes
 * STORAGE_CORRUPT that names the file and the shape and says what to do. Other errors pass
 * unchanged.
 */
export function corruptRead<T>(file: string, shapeId: number, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (!isDamage(error)) throw error
    throw damagedData(file, shapeId, error)
  }
}

/** STORAGE_CORRUPT for damage met reading shape `shapeId` in the partition file `file`, saying what to do. */
export function damagedData(file: string, shapeId: number, cause: Error): EngineError {
  return damaged(file, `the data of shape ${shapeId}`, cause)
}

/**
 * As corruptRead, for a read of the catalog file `file`; `what` names what was read (the record
 * of a shape, by handle; the lookup of a definition, by table).
 */
export function corruptCatalogRead<T>(file: string, what: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (!isDamage(error)) throw error
    throw damaged(file, what, error)
  }
}

function damaged(file: string, what: string, cause: Error): EngineError {
  return new EngineError(
    ErrorCode.STORAGE_CORRUPT,
    `${file}: ${what} is damaged (${cause.message}). ` +
      'Run `shapestore-verify --dir <data directory>` with the engine closed, and restore the directory from a backup.',
    { cause },
  )
}
