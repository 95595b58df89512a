import { existsSync } from 'node:fs'
import { DirectoryLock } from '../dir-lock.ts'
import { EngineError, ErrorCode } from '../errors.ts'
import { catalogProblem } from './catalog-check.ts'
import { catalogFile, partitionFile, partitionsWithData } from './directory-check.ts'
import { lmdbHeaderProblem } from './lmdb-header.ts'
import { walkLmdbFile } from './lmdb-walk.ts'
import { sealProblem } from './seal-check.ts'

export interface VerifiedFile {
  readonly file: string
  /** Pages read by the walk (0 if the header was already bad). */
  readonly pages: number
  /** Undefined if sound. */
  readonly problem: string | undefined
}

/**
 * Reads every page of every data file of a directory and checks its structure (see lmdb-walk.ts):
 * what openEngine's quick check cannot see; then, in a file whose pages are sound, the checksum
 * of every stored value (seal-check.ts) or, in the catalog, of every place record
 * (catalog-check.ts). Holds the directory lock meanwhile, so it refuses (DIRECTORY_LOCKED) a
 * directory an engine has open. `pnpm verify <dir>` runs it.
 */
export function verifyStore(dir: string): VerifiedFile[] {
  if (!existsSync(dir)) throw new EngineError(ErrorCode.INVALID_OPTION, `${dir} does not exist`)
  const lock = DirectoryLock.acquire(dir)
  try {
    const catalog = catalogFile(dir)
    const files = [catalog, ...partitionsWithData(dir).map((partition) => partitionFile(dir, partition))]
    return files.map((file) => {
      if (!existsSync(file)) return { file, pages: 0, problem: 'it is missing' }
      const problem = lmdbHeaderProblem(file)
      if (problem !== undefined) return { file, pages: 0, problem }
      const walked = walkLmdbFile(file)
      if (walked.problem !== undefined) return { file, ...walked }
      // The pages are sound: now every stored value's checksum (damage inside a value).
      return { file, pages: walked.pages, problem: file === catalog ? catalogProblem(file) : sealProblem(file) }
    })
  } finally {
    lock.release()
  }
}
