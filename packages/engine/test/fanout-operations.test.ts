// Proves how appendToLogs hands a fan-out to the writers: one operation per partition however
// many distinct transactions the call holds (an operation costs a promise and, on the worker
// runtime, a cloned request), and every shape still gets exactly its own rows, a replayed
// transaction skipped for the shape that has it.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type AppendArgs, inlineRuntime, openEngine, type Runtime } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

/** The inline runtime, recording every append operation it is given. */
function countingRuntime(appends: AppendArgs[]): Runtime {
  return async (context) => {
    const writers = await inlineRuntime()(context)
    return {
      ...writers,
      append: (args) => {
        appends.push(args)
        return writers.append(args)
      },
    }
  }
}

test('a fan-out of distinct transactions is one append operation per partition; each shape reads its own rows', async () => {
  const { dir, cleanup } = tempDir()
  const appends: AppendArgs[] = []
  try {
    const engine = await openEngine({ dir, runtime: countingRuntime(appends), partitions: 2 })
    const handles: string[] = []
    for (let i = 0; i < 8; i++) handles.push((await engine.getOrCreateShape({ table: 't', where: `k = ${i}` })).handle)
    // Shape 0 has transaction 4 already: the fan-out below is a replay for it.
    await engine.appendToLogs([{ handle: handles[0] as string, items: txItems(4, 2, 'shape0') }])
    appends.length = 0

    const shared = txItems(4, 2, 'shared')
    await engine.appendToLogs(
      handles.map((handle, i) => ({ handle, items: i >= 6 ? shared : txItems(4, 2, `shape${i}`) })),
    )

    const partitions = appends.map((args) => args.partition).sort()
    assert.deepEqual(partitions, [...new Set(partitions)], 'one operation per partition')
    const shapesSent = appends.flatMap((args) => args.transactions.flatMap((txn) => txn.refs.map((ref) => ref.handle)))
    assert.deepEqual(shapesSent.sort(), [...handles].sort(), 'every shape sent once')
    // Six distinct transactions and the shared one (once per partition it reaches).
    const transactions = appends.reduce((sum, args) => sum + args.transactions.length, 0)
    assert.ok(transactions >= 7 && transactions <= 8, `${transactions} transactions`)

    for (const [i, handle] of handles.entries()) {
      const rows = (await collect(engine.getLogStream(handle, '0_inf'))).map((json) => JSON.parse(json).v)
      assert.deepEqual(rows, Array(2).fill(i >= 6 ? 'shared' : `shape${i}`), `shape ${i}`)
      assert.equal(engine.fetchLatestOffset(handle).toString(), '4_2')
    }
    await engine.close()
  } finally {
    cleanup()
  }
})
