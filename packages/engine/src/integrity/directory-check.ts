import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { EngineError, ErrorCode } from '../errors.ts'
import { lmdbHeaderProblem } from './lmdb-header.ts'

/**
 * What openEngine checks before LMDB maps a file (see lmdb-header.ts for why): every check reads
 * at most two pages per environment, so open time does not grow with the data.
 *  - the catalog: missing or empty is a new directory, unless partitions hold data (then the
 *    catalog that names their shapes is gone); else its header must be sound;
 *  - each partition the catalog has placed shapes in must exist with a sound header; any other
 *    partition file present must be sound too (an empty one is a creation cut short: harmless).
 * Each problem is a STORAGE_CORRUPT error naming the file.
 */
export const catalogFile = (dir: string) => join(dir, 'catalog', 'data.mdb')
export const partitionFile = (dir: string, partition: number) => join(dir, 'partitions', String(partition), 'data.mdb')

export function checkCatalogFile(dir: string): void {
  const file = catalogFile(dir)
  if (sizeOf(file) > 0) {
    assertSound(file, 'the catalog')
    return
  }
  const withData = partitionsWithData(dir)
  if (withData.length > 0) {
    throw corrupt(
      `the catalog ${file} is ${existsSync(file) ? 'empty' : 'missing'}, but partition(s) ${withData.join(', ')} hold data: ` +
        'the records that name their shapes are gone',
    )
  }
}

/** `inUse`: the partitions the catalog has placed shapes in. */
export function checkPartitionFiles(dir: string, partitions: number, inUse: ReadonlySet<number>): void {
  for (let partition = 0; partition < partitions; partition++) {
    const file = partitionFile(dir, partition)
    const size = sizeOf(file)
    if (size > 0) assertSound(file, `partition ${partition}`)
    else if (inUse.has(partition)) {
      const what = existsSync(join(dir, 'partitions', String(partition)))
        ? existsSync(file)
          ? 'is empty'
          : 'is missing'
        : 'is missing (its directory too)'
      throw corrupt(`partition ${partition} holds shapes according to the catalog, but ${file} ${what}`)
    }
  }
}

/** Partitions whose data file exists and is not empty, ascending. */
export function partitionsWithData(dir: string): number[] {
  const root = join(dir, 'partitions')
  if (!existsSync(root)) return []
  return readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && sizeOf(join(root, name, 'data.mdb')) > 0)
    .map(Number)
    .sort((a, b) => a - b)
}

function assertSound(file: string, what: string): void {
  const problem = lmdbHeaderProblem(file)
  if (problem !== undefined) throw corrupt(`${what} ${file} is damaged: ${problem}`)
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

function corrupt(message: string): EngineError {
  return new EngineError(
    ErrorCode.STORAGE_CORRUPT,
    `${message}. Nothing was opened; restore the directory from a backup (or move it aside to start empty).`,
  )
}
