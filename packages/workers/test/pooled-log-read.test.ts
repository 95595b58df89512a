// Proves getLogJson on the worker runtime sends big reads (snapshot chunks, closed log chunks) to
// the reader pool once its threads are up, keeps the live tail inline, and answers the same
// bytes either way.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { inlineRuntime, limits, openEngine } from '@shapestore/engine'
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
