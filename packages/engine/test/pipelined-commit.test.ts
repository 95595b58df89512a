// Proves the writer's commit pipeline at its seams: a partition commits one batch at a time on
// lmdb-js' write thread while the next batch gathers on the state the first will leave. When the
// first fails, the one behind it must fail too (it chains onto rows that were never written); a
// retry then commits whole, in order, with the log chain intact. A commit writes and publishes
// its own batch's metadata.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  EngineError,
  encodeTransaction,
  LogOffset,
  type PartitionStore,
  PartitionStores,
  PartitionWriter,
  type ReadPathKeys,
} from '../src/index.ts'
import { SYNC_COMMIT_ITEMS_MAX } from '../src/limits.ts'
import { readLogJson } from '../src/log-store/log-json.ts'
import { appendOf, tempDir, txItems } from './helpers.ts'

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))
/** Rows per transaction: enough for a commit on lmdb-js' write thread (a smaller one commits synchronously). */
const ROWS = SYNC_COMMIT_ITEMS_MAX

/** One partition's store and writer on a fresh directory, appending ROWS-row transactions to one shape. */
async function withWriter(
  use: (store: PartitionStore, append: (tx: number) => Promise<void>) => Promise<void>,
  publish: (handle: string, keys: ReadPathKeys) => void = () => {},
): Promise<void> {
  const { dir, cleanup } = tempDir()
  const stores = new PartitionStores(dir, { mapSizeBytes: 1024 ** 3 })
  try {
    const store = stores.get(0)
    const ref = { handle: '1-a', partition: 0, shapeId: 1 }
    const writer = new PartitionWriter(store, { chunkBytesThreshold: 10 * 1024 * 1024, publish })
    await use(store, (tx) => writer.append(appendOf(txItems(tx, ROWS), [ref])))
    await writer.close()
  } finally {
    await stores.close()
    cleanup()
  }
}

test('a failed commit fails the batch gathered behind it; the retry commits whole and in order', () =>
  withWriter(async (store, append) => {
    await append(1)

    // The next commit fails as lmdb-js reports a failed write-thread commit (a rejected batch),
    // with none of its writes stored.
    const batch = store.env.batch.bind(store.env)
    store.env.batch = (() => {
      store.env.batch = batch
      // Later, as a write thread's answer comes: the batch behind gathers meanwhile.
      return new Promise((_, reject) => setTimeout(() => reject(new Error('injected commit failure')), 20))
    }) as typeof store.env.batch
    const failing = append(2)
    await nextTurn() // transaction 2's commit is under way
    const behind = append(3)
    const outcomes = await Promise.allSettled([failing, behind])
    for (const [i, outcome] of outcomes.entries()) {
      assert.equal(outcome.status, 'rejected', `append ${i + 2} was acknowledged`)
      assert.ok((outcome as PromiseRejectedResult).reason instanceof EngineError)
    }

    // Retried, both commit; nothing of the failed commits survives and the chain holds.
    await append(2)
    await append(3)
    const last = LogOffset.of(3, 2 * (ROWS - 1))
    assert.equal(store.readMeta(1).lastTxnOffset.toString(), last.toString())
    const rows = JSON.parse(readLogJson(store, 1, LogOffset.LAST_BEFORE_REAL, last, null).toString())
    assert.deepEqual(
      rows.map((row: { tx: number; op: number }) => `${row.tx}_${row.op}`),
      [1, 2, 3].flatMap((tx) => Array.from({ length: ROWS }, (_, i) => `${tx}_${2 * i}`)),
    )
  }))

test('a commit writes and publishes its own batch’s metadata, not that of the batch gathering behind it', () => {
  const published: string[] = []
  return withWriter(
    async (store, append) => {
      const first = append(1)
      await nextTurn() // transaction 1's commit is under way; its LMDB transaction has not run yet
      const second = append(2)
      await first
      const firstLast = LogOffset.of(1, 2 * (ROWS - 1)).toString()
      assert.equal(store.readMeta(1).lastTxnOffset.toString(), firstLast, 'the metadata on disk is ahead of the log')
      assert.equal(published.at(-1), firstLast, 'published before its rows were durable')
      await second
      assert.equal(published.at(-1), LogOffset.of(2, 2 * (ROWS - 1)).toString())
    },
    (_, keys) => published.push(keys.latestOffset.toString()),
  )
})
