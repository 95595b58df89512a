// Proves the metadata encoding: values are written as plain maps (no structure definition
// inside each value, which made every read define it again), and values written by earlier
// versions (msgpackr records) still read back the same.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { open } from 'lmdb'
import { MSGPACK_MAP_VALUES } from '../src/msgpack-values.ts'
import { tempDir } from './helpers.ts'

test('new values are plain maps; values written as records still decode', async () => {
  const { dir, cleanup } = tempDir()
  const value = {
    shape: { table: '"public"."items"', where: '"v" = 1', columns: null, replica: 'default' },
    partition: 3,
  }
  try {
    const before = open({ path: dir, maxDbs: 2 })
    const old = before.openDB({ name: 'db', encoding: 'msgpack', keyEncoding: 'uint32' })
    await old.put(1, value)
    const oldBytes = before.openDB({ name: 'db', encoding: 'binary', keyEncoding: 'uint32' }).getBinary(1)
    assert.equal(oldBytes?.[0], 0xd4, 'the default writes a record definition into the value (fixext 1)')
    await before.close()

    const env = open({ path: dir, maxDbs: 2 })
    const db = env.openDB({ name: 'db', ...MSGPACK_MAP_VALUES, keyEncoding: 'uint32' })
    assert.deepEqual(db.get(1), value)
    await db.put(2, value)
    const newBytes = env.openDB({ name: 'db', encoding: 'binary', keyEncoding: 'uint32' }).getBinary(2)
    assert.equal(newBytes?.[0], 0xde, 'a map (map16): no structure definition')
    assert.deepEqual(db.get(2), value)
    await env.close()
  } finally {
    cleanup()
  }
})
