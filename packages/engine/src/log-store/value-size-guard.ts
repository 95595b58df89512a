import type { Database, Key, RangeOptions } from 'lmdb'
import { TRANSACTION_BYTES_MAX, TRANSACTION_ITEMS_MAX } from '../limits.ts'
import { closing } from '../lmdb-ranges.ts'
import { DamagedRecord } from './damaged-record.ts'
import { CHAIN_LONG_BYTES, RECORD_HEADER_BYTES, ROW_OVERHEAD_BYTES, SHARED_COUNT_BYTES } from './record-layout.ts'

/**
 * The largest value a partition stores: a shared record of the largest transaction (record-
 * layout.ts). Snapshot parts (about 1 MiB, or one row of at most 16 MiB) and metadata are smaller.
 */
export const STORED_VALUE_BYTES_MAX =
  SHARED_COUNT_BYTES +
  RECORD_HEADER_BYTES +
  TRANSACTION_ITEMS_MAX * ROW_OVERHEAD_BYTES +
  TRANSACTION_BYTES_MAX +
  CHAIN_LONG_BYTES

/**
 * Makes every `get` of `db` (get, getBinaryFast) refuse, as damage, a value bigger than any
 * stored value can be, before lmdb-js copies or maps it. LMDB takes a value's size from its leaf
 * node, which a damaged page can set to anything up to 4 GiB. A value that fits lmdb-js' read
 * buffer (16 MiB at first) is copied by the native get at once; a bigger one is only measured,
 * its size stored in the database's `lastSize` (lmdb-js 3.x read.js), and then copied into a
 * grown buffer or handed out as a view of the map: either ran off the end of the file, a SIGBUS
 * and a dead process (`pnpm test:damaged-pages --seed 2`, trials 3 and 33). `lastSize` is where
 * this checks it. A cursor that reads values checks nothing: read values by key
 * (`valuesInRange`, `listedValue`).
 *
 * Not covered: a damaged size under the limit (copied at once up to the buffer's size, or let
 * through by this check) whose bytes run past the file's tail padding (tail-padding.ts) still
 * faults. Padding every file by twice the limit (133 MiB, sparse) closed that in a trial, but
 * every copy made with Node's `cpSync` (the tests', the bench's seeds, an operator's script)
 * writes those zeros out: 1 GiB per copy of an 8-partition store.
 */
export function guardValueSizes(db: Database<Buffer, Key>): void {
  let lastSize = 0
  Object.defineProperty(db, 'lastSize', {
    get: () => lastSize,
    set: (size: number) => {
      // Negative: one of lmdb-js' codes (not found, a size in the key buffer, a shared buffer).
      if (size > STORED_VALUE_BYTES_MAX) {
        throw new DamagedRecord(`a value of ${size} bytes, over the ${STORED_VALUE_BYTES_MAX} any value can have`)
      }
      lastSize = size
    },
  })
}

/**
 * The entries of `db` in `range`, each value read by key (so its size is checked: guardValueSizes)
 * and copied out of lmdb-js' read buffer, which the next read reuses.
 */
export function* valuesInRange<K extends Key>(
  db: Database<Buffer, K>,
  range: RangeOptions,
): Generator<{ key: K; value: Buffer }> {
  for (const key of closing(db.getKeys(range))) yield { key, value: Buffer.from(listedValue(db, key)) }
}

/**
 * The value of `key`, which a range of `db` listed in this read transaction, its size checked
 * (guardValueSizes); a view of lmdb-js' read buffer, valid until the next read. A listed key
 * that a get does not find is damage: LMDB's search took another way through a damaged page.
 */
export function listedValue<K extends Key>(db: Database<Buffer, K>, key: K): Uint8Array {
  const value = db.getBinaryFast(key)
  if (value === undefined) throw new DamagedRecord('a key its range lists is not found')
  // (subarray with an explicit end: the buffer's `length` is overridden over a larger region.)
  return value.subarray(0, value.length)
}
