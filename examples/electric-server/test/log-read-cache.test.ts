/** The shared live-tail reads: one read per range, small ranges kept, big ones not. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LogOffset, openEngine } from '@shapestore/engine'
import { LogReadCache } from '../src/http/log-read-cache.ts'
import { tempDir } from './helpers.ts'

test('requests for one range share one read; a big range is not kept', async () => {
  const { dir, cleanup } = tempDir()
  const engine = await openEngine({ dir })
  try {
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    await engine.appendToLog(handle, [{ offset: '5_0', key: 'k1', op: 'insert', json: '{"a":1}' }])
    await engine.appendToLog(handle, [
      { offset: '6_0', key: 'k2', op: 'insert', json: `{"big":"${'x'.repeat(70_000)}"}` },
    ])
    const cache = new LogReadCache()
    const since = LogOffset.parse('0_0')
    const small = LogOffset.parse('5_0')
    const first = cache.read(engine, handle, since, small)
    const second = cache.read(engine, handle, since, small)
    assert.equal(second, first, 'concurrent requests share the read')
    assert.equal((await first).toString(), '[{"a":1}]')
    assert.equal(cache.read(engine, handle, since, small), first, 'a small result is kept')

    const big = LogOffset.parse('6_0')
    const bigRead = cache.read(engine, handle, small, big)
    assert.ok((await bigRead).length > 70_000)
    assert.notEqual(cache.read(engine, handle, small, big), bigRead, 'a big result is not kept')
  } finally {
    await engine.close()
    cleanup()
  }
})
