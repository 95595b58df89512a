/** Shared log reads: one read per range, small ranges kept, big ones shared only while held. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { LogOffset, openEngine } from '@shapestore/engine'
import { LogReadCache } from '../src/http/log-read-cache.ts'
import { tempDir } from './helpers.ts'

test('requests for one range share one read; a big range is shared while held and not kept', async () => {
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
    const readBig = () => cache.read(engine, handle, small, big)
    const heldBody = async (): Promise<WeakRef<Buffer>> => {
      const bigRead = readBig()
      const body = await bigRead
      assert.ok(body.length > 70_000)
      const again = readBig()
      assert.notEqual(again, bigRead, 'a big result is not kept as a read')
      assert.equal(await again, body, 'but a response still holding it shares it: one copy, not two')
      return new WeakRef(body)
    }
    const held = await heldBody()
    await nextTurn() // a WeakRef's target lives until the job that dereferenced it ends
    collectGarbage()
    assert.equal(held.deref(), undefined, 'once no response holds it, the cache does not keep it alive')
    assert.ok((await readBig()).length > 70_000, 'and a later request reads it again')
  } finally {
    await engine.close()
    cleanup()
  }
})

function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}
