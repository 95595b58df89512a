import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs'
import type { RootDatabase } from 'lmdb'

/**
 * Zeros kept past the last page LMDB uses in a partition's data file. LMDB checks no pointer it
 * follows: a damaged page can send a search to a node offset (16 bits) whose key size (16 bits)
 * it then reads, up to 128 KiB past the page. Past the end of the file that is a SIGBUS and the
 * process dies (one trial in 100 of `pnpm test:damaged-pages` did); within the file it reads
 * zeros, which fail the record's seal: STORAGE_CORRUPT, a coded error. (A damaged value size
 * or overflow page number can still reach further: LMDB maps far more than the file.)
 */
export const TAIL_PADDING_MIN_BYTES = 256 * 1024
/** Padded to this much, so the file is resized once per MiB or so written, not per commit. */
export const TAIL_PADDING_BYTES = 1024 * 1024

/**
 * Keeps `file` at least TAIL_PADDING_MIN_BYTES longer than `usedBytes` (LMDB's pages). Only
 * the partition's writer calls it, between its commits: nothing else writes the file then, and
 * this only ever grows it. Takes and returns the length the file is known to have (0: unknown).
 */
export function padTail(file: string, usedBytes: number, knownLength: number): number {
  if (usedBytes + TAIL_PADDING_MIN_BYTES <= knownLength) return knownLength
  const fd = openSync(file, 'r+')
  try {
    const size = fstatSync(fd).size
    const target = usedBytes + TAIL_PADDING_BYTES
    if (size < target) ftruncateSync(fd, target)
    return Math.max(size, target)
  } finally {
    closeSync(fd)
  }
}

/** The part of lmdb-js' native environment (`RootDatabase#env`, untyped there) padding reads. */
export interface LmdbNativeEnv {
  info(): { lastPageNumber: number; lastTxnId: number }
  stat(): { pageSize: number }
}

/**
 * Keeps one environment's data file padded (padTail), for its one writer to call when it starts
 * and after each commit. Best effort: the commit before it is durable either way, so a failure
 * here fails nothing; the next call tries again.
 */
export class TailPadder {
  readonly #env: RootDatabase
  readonly #file: string
  #paddedLength = 0
  #pageSize = 0

  constructor(env: RootDatabase, file: string) {
    this.#env = env
    this.#file = file
  }

  pad(): void {
    try {
      const native = (this.#env as unknown as { env: LmdbNativeEnv }).env
      // The page size once: lmdb-js' stat() reads it through a read transaction.
      if (this.#pageSize === 0) this.#pageSize = native.stat().pageSize
      const used = (native.info().lastPageNumber + 1) * this.#pageSize
      this.#paddedLength = padTail(this.#file, used, this.#paddedLength)
    } catch {
      // Left unpadded until the next call.
    }
  }
}
