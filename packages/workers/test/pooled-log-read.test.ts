// Proves getLogJson on the worker runtime sends big reads (snapshot chunks, closed log chunks) to
// the reader pool once its threads are up, keeps the live tail inline, and answers the same
// bytes either way.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ErrorCode, inlineRuntime, limits, openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'

test('big reads run in the pool, small ones inline, with identical answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-pooled-'))
  const chunkBytesThreshold = limits.POOL_READ_BYTES_MIN
  const row = (tx: number, n: number) => ({
    offset: `${tx}_${n * 2}`,
    key: `k${tx}-${n}`,
    op: 'insert' as const,
    json: JSON.stringify({ tx, n, pad: 'p'.repeat(200) }),
  })
  try {
    const engine = await openEngine({ dir, chunkBytesThreshold, runtime: workerRuntime({ writers: 2, readers: 2 }) })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(
      handle,
      Array.from({ length: 2000 }, (_, i) => JSON.stringify({ s: i, pad: 'q'.repeat(200) })),
    )
    // ~1.5 MiB of log: several closed chunks of 256 KiB, then an open tail.
    for (let tx = 1; tx <= 140; tx++)
      await engine.appendToLog(
        handle,
        Array.from({ length: 50 }, (_, n) => row(tx, n)),
      )
    const closedEnd = engine.getChunkEndLogOffset(handle, '0_inf')
    assert.notEqual(closedEnd, null, 'the log has a closed chunk')

    // The first big read starts the reader threads and is answered inline meanwhile.
    const first = await engine.getLogJson(handle, '0_inf', closedEnd ?? undefined)
    while (engine.stats().pooledLogReads === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await engine.getLogJson(handle, '0_inf', closedEnd ?? undefined)
    }
    let lastClosedEnd = closedEnd
    for (let end = closedEnd; end !== null; end = engine.getChunkEndLogOffset(handle, end)) lastClosedEnd = end
    const pooledBefore = engine.stats().pooledLogReads
    const ranges: Array<[string, string | undefined]> = [
      ['-1', '0_0'],
      ['0_0', '0_1'],
      ['0_inf', closedEnd?.toString()],
      [lastClosedEnd?.toString() ?? '0_inf', undefined],
    ]
    const answers = []
    for (const [since, upTo] of ranges) answers.push((await engine.getLogJson(handle, since, upTo)).toString('utf8'))
    const pooled = engine.stats().pooledLogReads - pooledBefore
    const latest = engine.fetchLatestOffset(handle).toString()

    // A shape caught up with its snapshot, with only an open log chunk after it: a small read.
    const small = (await engine.getOrCreateShape({ table: 'items', where: 'small' })).handle
    await engine.makeNewSnapshot(small, [JSON.stringify({ s: 0 })])
    await engine.appendToLog(small, [row(1, 0)])
    const pooledBeforeSmall = engine.stats().pooledLogReads
    const tail = (await engine.getLogJson(small, '0_0')).toString('utf8')
    assert.equal(
      engine.stats().pooledLogReads,
      pooledBeforeSmall,
      'a read from the snapshot end into the open chunk stays inline',
    )
    assert.equal(JSON.parse(tail).length, 1)
    await engine.close()

    // The same directory read inline gives the same bytes.
    const inline = await openEngine({ dir, chunkBytesThreshold, runtime: inlineRuntime() })
    assert.equal(
      (await inline.getLogJson(handle, '0_inf', closedEnd ?? undefined)).toString('utf8'),
      first.toString('utf8'),
    )
    for (const [i, [since, upTo]] of ranges.entries()) {
      assert.equal((await inline.getLogJson(handle, since, upTo)).toString('utf8'), answers[i], `(${since}, ${upTo}]`)
    }
    assert.equal(inline.fetchLatestOffset(handle).toString(), latest)
    assert.equal(inline.stats().pooledLogReads, 0)
    await inline.close()
    assert.equal(pooled, 3, 'the two snapshot chunks and the closed log chunk went to the pool; the open tail did not')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a pooled read of a shape removed meanwhile answers SHAPE_REMOVED: never "damage", never an empty answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-pooled-removed-'))
  const chunkBytesThreshold = limits.POOL_READ_BYTES_MIN
  const snapshot = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ s: i, pad: 'q'.repeat(200) }))
  const entry = (tx: number, n: number) => ({
    offset: `${tx}_${n}`,
    key: `k${tx}-${n}`,
    op: 'insert' as const,
    json: JSON.stringify({ tx, n, pad: 'p'.repeat(200) }),
  })
  const engine = await openEngine({ dir, chunkBytesThreshold, runtime: workerRuntime({ writers: 1, readers: 1 }) })
  try {
    const filler = (await engine.getOrCreateShape({ table: 'filler' })).handle
    await engine.makeNewSnapshot(filler, snapshot)
    while (engine.stats().pooledLogReads === 0) {
      await engine.getLogJson(filler, '-1')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const outcomes = new Map<string, number>()
    for (let round = 0; round < 12; round++) {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `round = ${round}` })
      await engine.makeNewSnapshot(handle, snapshot)
      // ~1 MiB of log: closed chunks, read from the pool too.
      for (let tx = 1; tx <= 20; tx++)
        await engine.appendToLog(
          handle,
          Array.from({ length: 200 }, (_, n) => entry(tx, n)),
        )
      // Reads of another shape queued first: the removal's drop commits before these run.
      const queued = [1, 2, 3].map(() => engine.getLogJson(filler, '-1'))
      const reads = [engine.getLogJson(handle, '-1', '0_0'), engine.getLogJson(handle, '0_inf', '1_0')].map((read, i) =>
        read.then(
          (json) => {
            assert.equal(JSON.parse(json.toString('utf8')).length, i === 0 ? snapshot.length : 200, 'a whole answer')
            return 'answered'
          },
          (error: unknown) => {
            const code = (error as { code?: string }).code ?? String(error)
            assert.ok(code === ErrorCode.SHAPE_REMOVED || code === ErrorCode.UNKNOWN_HANDLE, `read ${i}: ${error}`)
            return code
          },
        ),
      )
      assert.equal(await engine.removeShape(handle), true)
      await Promise.all(queued)
      for (const outcome of await Promise.all(reads)) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
    // What the race gave, for the record: the assertion is that each outcome is one of these.
    console.log(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`)
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
