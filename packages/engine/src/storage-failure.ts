import { statfsSync } from 'node:fs'
import { EngineError, ErrorCode, toStorageError } from './errors.ts'
import { DISK_FULL_FREE_BYTES } from './limits.ts'
import { LMDB_CORRUPTION } from './log-store/damaged-record.ts'

/**
 * Classifies a failed LMDB commit. Corruption LMDB notices itself is STORAGE_CORRUPT. A full
 * disk is told apart from other failures like this: lmdb-js grows an environment's map by
 * itself when it fills (its bundled LMDB resizes on MDB_MAP_FULL), so the map size is not what
 * runs out: the disk is. LMDB does not report that as ENOSPC reliably (a short write comes back
 * as EIO, "Input/output error"), so after a failed commit the free space of the filesystem
 * holding `path` decides: below DISK_FULL_FREE_BYTES, the failure is STORAGE_FULL.
 */
export function storageFailure(error: unknown, what: string, path: string): EngineError {
  const wrapped = toStorageError(error, what)
  if (wrapped.code !== ErrorCode.STORAGE_ERROR) return wrapped
  if (LMDB_CORRUPTION.test(wrapped.message)) {
    return new EngineError(
      ErrorCode.STORAGE_CORRUPT,
      `${what}: LMDB found a damaged page in ${path} (${wrapped.message}); restore the directory from a backup`,
      { cause: error },
    )
  }
  const free = freeBytes(path)
  if (free === undefined || free >= DISK_FULL_FREE_BYTES) return wrapped
  return new EngineError(
    ErrorCode.STORAGE_FULL,
    `${what}: no room left on the disk holding ${path} (${free} bytes free). Nothing of this commit was ` +
      'written and reads keep working; free space on that disk (or move the directory to a bigger one), ' +
      'then retry (appends are idempotent).',
    { cause: error },
  )
}

function freeBytes(path: string): number | undefined {
  try {
    const stats = statfsSync(path)
    return stats.bavail * stats.bsize
  } catch {
    return undefined
  }
}
