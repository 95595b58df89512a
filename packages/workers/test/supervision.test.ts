// Proves writer supervision: a writer thread that throws, exits or runs out of memory is
// replaced; the calls it had not acknowledged reject with WRITER_CRASHED and can be replayed;
// everything it acknowledged is still there; reads keep working; the new writer republishes
// the keys its predecessor left stale, also when it died holding a slot lock of the shared table.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Engine, EngineError, ErrorCode, openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'

const crashingWriter = new URL('./fixtures/crashing-writer.ts', import.meta.url)

interface Harness {
  engine: Engine
  crashes: number[]
  handles: string[]
  cleanup: () => Promise<void>
}

async function harness(): Promise<Harness> {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-supervision-'))
  const crashes: number[] = []
  const engine = await openEngine({
    dir,
    partitions: 2,
    runtime: workerRuntime({
      writers: 2,
      writerEntry: crashingWriter,
      writerMemoryMb: 48,
      onWriterCrash: (writer) => crashes.push(writer),
    }),
  })
  const handles: string[] = []
  for (let i = 0; i < 4; i++)
    handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
  return {
    engine,
    crashes,
    handles,
    cleanup: async () => {
      await engine.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const row = (tx: number) => ({ offset: `${tx}_0`, key: `k${tx}`, op: 'insert' as const, json: JSON.stringify({ tx }) })

async function logTxs(engine: Engine, handle: string): Promise<number[]> {
  const txs: number[] = []
  for await (const json of engine.getLogStream(handle, '0_inf')) txs.push((JSON.parse(json) as { tx: number }).tx)
  return txs
}

for (const how of ['throw', 'exit', 'oom'] as const) {
  test(`a writer that dies (${how}) mid-stream is replaced; acknowledged data stays; replay completes the log`, async () => {
    const { engine, crashes, handles, cleanup } = await harness()
    try {
      let reading = true
      let reads = 0
      const readers = (async () => {
        while (reading) {
          for (const handle of handles) engine.fetchLatestOffset(handle) // must never throw
          reads++
          await new Promise((resolve) => setImmediate(resolve))
        }
      })()

      const acked = new Map<string, Set<number>>(handles.map((handle) => [handle, new Set()]))
      const failed: Array<{ handle: string; tx: number }> = []
      const appends: Promise<void>[] = []
      for (let tx = 1; tx <= 60; tx++) {
        for (const handle of handles) {
          const items =
            tx === 30 && handle === handles[0] ? [{ ...row(tx), json: JSON.stringify({ crash: how }) }] : [row(tx)]
          appends.push(
            engine.appendToLog(handle, items).then(
              () => void acked.get(handle)?.add(tx),
              (error: unknown) => {
                assert.ok(error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED, String(error))
                failed.push({ handle, tx })
              },
            ),
          )
        }
        if (tx % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      await Promise.all(appends)
      assert.deepEqual(crashes.length, 1, 'exactly one writer died')
      assert.ok(
        failed.some(({ handle, tx }) => handle === handles[0] && tx === 30),
        'the crashing append was rejected',
      )

      // Everything acknowledged is there.
      for (const handle of handles) {
        const present = new Set(await logTxs(engine, handle))
        for (const tx of acked.get(handle) ?? [])
          assert.ok(present.has(tx), `acknowledged tx ${tx} of ${handle} is missing`)
      }
      // Replaying what failed, in order per shape, completes every log exactly once (idempotent).
      failed.sort((a, b) => a.tx - b.tx)
      for (const { handle, tx } of failed) {
        const replay = engine.appendToLog(handle, [row(tx)])
        await replay
      }
      reading = false
      await readers
      assert.ok(reads > 0)
      for (const handle of handles) {
        const txs = await logTxs(engine, handle)
        const expected = Array.from({ length: 60 }, (_, i) => i + 1)
        // Items at or below the last offset are skipped, so a replay of a tx older than a later
        // acknowledged one is a no-op: the log holds every tx at most once, in order.
        assert.deepEqual(
          txs,
          [...new Set(txs)].sort((a, b) => a - b),
          'no duplicates, in order',
        )
        assert.ok(
          expected
            .filter((tx) => !txs.includes(tx))
            .every((tx) => failed.some((f) => f.handle === handle && f.tx === tx)),
          'only rejected transactions may be missing',
        )
        assert.equal(engine.fetchLatestOffset(handle).toString(), `${txs.at(-1)}_0`)
      }
    } finally {
      await cleanup()
    }
  })
}

test('a writer that dies after committing but before reporting: its replacement republishes the keys', async () => {
  const { engine, crashes, handles, cleanup } = await harness()
  try {
    const handle = handles[0] as string
    await engine.appendToLog(handle, [row(1)])
    assert.equal(engine.fetchLatestOffset(handle).toString(), '1_0')
    const republished = engine.waitForOffset(handle, '1_0', { timeoutMs: 20_000 })
    await assert.rejects(
      engine.appendToLog(handle, [{ ...row(2), json: JSON.stringify({ crash: 'after-commit' }) }]),
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED,
    )
    // The commit is durable, but its keys never reached this thread: only the new writer's
    // republish can move the latest offset without a replay.
    assert.equal(await republished, true, 'the keys were republished')
    assert.equal(engine.fetchLatestOffset(handle).toString(), '2_0')
    assert.equal(crashes.length, 1)
    await engine.appendToLog(handle, [{ ...row(2), json: '{"replayed":true}' }]) // a replay is a no-op
    const log: string[] = []
    for await (const json of engine.getLogStream(handle, '0_inf')) log.push(json)
    assert.deepEqual(
      log,
      ['{"tx":1}', '{"crash":"after-commit"}'],
      'the durable commit is kept; the replay was a no-op',
    )
  } finally {
    await cleanup()
  }
})

test('a writer killed holding its slot lock (mid-publish): the lock is broken, its successor publishes, reads hit the table again', async () => {
  const { engine, crashes, handles, cleanup } = await harness()
  try {
    const handle = handles[0] as string
    await engine.appendToLog(handle, [row(1)])
    await assert.rejects(
      engine.appendToLog(handle, [{ ...row(2), json: JSON.stringify({ crash: 'holding-slot' }) }]),
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED,
    )
    assert.equal(crashes.length, 1)
    assert.equal(engine.fetchLatestOffset(handle).toString(), '1_0')
    await engine.appendToLog(handle, [row(2)])
    assert.equal(engine.fetchLatestOffset(handle).toString(), '2_0')
    // Left locked, the slot would make every read a miss (and the successor's publish wait
    // 200 ms, then give up). Unlocked, the successor's publish is served from shared memory.
    const misses = engine.stats().readPathMisses
    for (let i = 0; i < 3; i++) assert.equal(engine.fetchLatestOffset(handle).toString(), '2_0')
    assert.equal(engine.stats().readPathMisses, misses, 'reads hit the table')
  } finally {
    await cleanup()
  }
})

test('a writer that dies during a removal: the removal rejects, yet the shape is gone for readers, waiters and a second removal', async () => {
  const { engine, crashes, handles, cleanup } = await harness()
  try {
    const handle = handles[0] as string
    await engine.appendToLog(handle, [{ ...row(1), json: JSON.stringify({ crash: 'next-drop' }) }])
    const waiting = engine.waitForOffset(handle, '5_0', { timeoutMs: 20_000 })
    await assert.rejects(
      engine.removeShape(handle),
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED,
    )
    assert.equal(crashes.length, 1)
    // Not left answering for the removed shape, nor waiting out its timeout.
    await assert.rejects(
      waiting,
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.SHAPE_REMOVED,
    )
    assert.throws(
      () => engine.fetchLatestOffset(handle),
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.UNKNOWN_HANDLE,
    )
    assert.equal(await engine.removeShape(handle), false)
    assert.deepEqual([...engine.listShapes()].map((shape) => shape.handle).sort(), handles.slice(1).sort())
  } finally {
    await cleanup()
  }
})

test('a writer that dies holding the slot of the shape it is removing: its waiters go, its slot is freed', async () => {
  const { engine, crashes, handles, cleanup } = await harness()
  try {
    const handle = handles[0] as string
    await engine.appendToLog(handle, [{ ...row(1), json: JSON.stringify({ crash: 'next-drop-holding' }) }])
    const waiting = engine.waitForOffset(handle, '5_0', { timeoutMs: 20_000 })
    // The lock is released as the dead thread's (the shape counts as written until its drop
    // settles), so the removal frees the slot. It was left locked for good: the removal failed
    // freeing it (STORAGE_ERROR, after 200 ms), and the waiter was never told.
    await assert.rejects(
      engine.removeShape(handle),
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED,
    )
    assert.equal(crashes.length, 1)
    await assert.rejects(
      waiting,
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.SHAPE_REMOVED,
    )
    // The other shapes take writes.
    await engine.appendToLog(handles[1] as string, [row(1)])
  } finally {
    await cleanup()
  }
})

test('a writer that dies while the engine closes: close() settles, and the call it had not answered rejects', async () => {
  const { engine, handles, cleanup } = await harness()
  try {
    const handle = handles[0] as string
    await engine.appendToLog(handle, [row(1)])
    // Issued in the same turn as close(): the thread dies on it, before the close is answered.
    const dying = engine.appendToLog(handle, [{ ...row(2), json: JSON.stringify({ crash: 'exit' }) }])
    const closing = engine.close()
    await assert.rejects(
      dying,
      (error: unknown) => error instanceof EngineError && error.code === ErrorCode.WRITER_CRASHED,
    )
    await closing
  } finally {
    await cleanup()
  }
})

test("a shape whose metadata is damaged does not stop its writer's successors: the other shapes keep taking writes", async () => {
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { open } = await import('lmdb')
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-damaged-republish-'))
  try {
    const first = await openEngine({ dir, partitions: 1, runtime: workerRuntime({ writers: 1 }) })
    const damaged = (await first.getOrCreateShape({ table: 'items', where: 'damaged' })).handle
    const sound = (await first.getOrCreateShape({ table: 'items', where: 'sound' })).handle
    await first.appendToLog(damaged, [row(1)])
    await first.appendToLog(sound, [row(1)])
    await first.close()
    // One byte of the first shape's metadata flipped: its seal no longer matches.
    const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
    const meta = env.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    const value = Buffer.from(meta.getBinary(1) as Buffer)
    value[value.length - 1] = (value[value.length - 1] as number) ^ 0xff
    await meta.put(1, value)
    await env.close()

    const engine = await openEngine({
      dir,
      partitions: 1,
      runtime: workerRuntime({ writers: 1, writerEntry: crashingWriter }),
    })
    try {
      const isCode = (code: string) => (error: unknown) => error instanceof EngineError && error.code === code
      await assert.rejects(engine.appendToLog(damaged, [row(2)]), isCode(ErrorCode.STORAGE_CORRUPT))
      await assert.rejects(
        engine.appendToLog(sound, [{ ...row(2), json: JSON.stringify({ crash: 'exit' }) }]),
        isCode(ErrorCode.WRITER_CRASHED),
      )
      // The successor republishes both shapes' keys; the damaged one's used to kill it, and every
      // successor after it, so the partition took no write again.
      await engine.appendToLog(sound, [row(2)])
      assert.equal(engine.fetchLatestOffset(sound).toString(), '2_0')
      assert.throws(() => engine.fetchLatestOffset(damaged), isCode(ErrorCode.STORAGE_CORRUPT))
    } finally {
      await engine.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
