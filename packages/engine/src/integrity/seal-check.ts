import { dirname } from 'node:path'
import { open } from 'lmdb'
import { SHARED_COUNT_BYTES } from '../log-store/record-layout.ts'
import { decodeMetaValue } from '../log-store/shape-meta.ts'
import { checkSeal } from '../log-store/value-seal.ts'

/**
 * Checks the seal (checksum) of every stored value of one partition file: its log values, shared
 * records, snapshot parts (log-store/value-seal.ts) and shape metadata (log-store/shape-meta.ts,
 * whose records from before data format 3 have no seal and are checked for their form). Returns a description of the damage, or
 * undefined if every value is sound. Run only on a file whose pages walked clean: iterating a
 * structurally damaged file is LMDB's to refuse, not this check's.
 */
export function sealProblem(partitionFile: string): string | undefined {
  const env = open({ path: dirname(partitionFile), readOnly: true })
  try {
    let damaged = 0
    let first: string | undefined
    for (const name of ['log', 'snapshot', 'txs'] as const) {
      const db = env.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary' })
      for (const { key, value } of db.getRange({})) {
        try {
          checkSeal(key, name === 'txs' ? value.subarray(SHARED_COUNT_BYTES, value.length) : value, name)
        } catch (error) {
          damaged++
          first ??= `${(error as Error).message} at key ${key.toString('hex')}`
        }
      }
    }
    const meta = env.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    for (const { key, value } of meta.getRange({})) {
      try {
        decodeMetaValue(key, value)
      } catch (error) {
        damaged++
        first ??= `${(error as Error).message} of shape ${key}`
      }
    }
    return damaged === 0 ? undefined : `${damaged} stored values fail their checksum (the first: ${first})`
  } finally {
    env.close()
  }
}
