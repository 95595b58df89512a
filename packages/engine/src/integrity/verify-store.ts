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
/** A file's header and every page of it (what the value checks need first). */
function walk(file: string): VerifiedFile {
  if (!existsSync(file)) return { file, pages: 0, problem: 'it is missing' }
  const problem = lmdbHeaderProblem(file)
  if (problem !== undefined) return { file, pages: 0, problem }
  return { file, ...walkLmdbFile(file) }
}

export function verifyStore(dir: string): VerifiedFile[] {
  if (!existsSync(dir)) throw new EngineError(ErrorCode.INVALID_OPTION, `${dir} does not exist`)
  const lock = DirectoryLock.acquire(dir)
  try {
    const catalog = catalogFile(dir)
    const walked = walk(catalog)
    // Every partition with data, and every one the catalog places shapes in (open refuses a
    // directory that lacks one).
    const partitions = new Set(partitionsWithData(dir))
    let catalogResult: VerifiedFile = walked
    if (walked.problem === undefined) {
      const { problem, partitionsInUse } = catalogProblem(catalog)
      catalogResult = { ...walked, problem }
      for (const partition of partitionsInUse) partitions.add(partition)
    }
    const partitionResults = [...partitions]
      .sort((a, b) => a - b)
      .map((partition) => {
        const result = walk(partitionFile(dir, partition))
        // The pages are sound: now every stored value's checksum (damage inside a value).
        return result.problem === undefined ? { ...result, problem: sealProblem(result.file) } : result
      })
    return [catalogResult, ...partitionResults]
  } finally {
    lock.release()
  }
}
