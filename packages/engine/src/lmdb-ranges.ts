/**
 * Iterates a range of LMDB keys or entries and closes its cursor however the iteration ends,
 * also when a step throws. lmdb-js leaves the cursor open when LMDB fails a step (it throws
 * before it finishes the cursor), and an open cursor keeps its read transaction in use: after
 * damage LMDB fails every read in that transaction (MDB_BAD_TXN), and lmdb-js hands the same
 * transaction out again while a cursor holds it, so every later read of the thread failed,
 * named as damage of whatever shape it read (PartitionStore.checkedRead drops the transaction,
 * which it cannot while a cursor holds it).
 */
export function* closing<T>(range: Iterable<T>): Generator<T, void, undefined> {
  const iterator = range[Symbol.iterator]()
  try {
    for (let next = iterator.next(); next.done !== true; next = iterator.next()) yield next.value
  } finally {
    iterator.return?.()
  }
}
