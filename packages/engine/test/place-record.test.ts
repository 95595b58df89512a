/**
 * Pins a shape's place record (catalog/place-record.ts): any place round-trips; every single-bit
 * flip, a cut, a longer value and a record read under another handle are DamagedRecord, never a
 * place; and through the engine, a damaged place record makes the shape's first read
 * STORAGE_CORRUPT naming the catalog file and the handle, and `pnpm verify` finds it. Fuzzed, seeded and replayable:
 *   PLACE_RECORD_SEED=<seed> [PLACE_RECORD_RUNS=<n>] node --import tsx --test test/place-record.test.ts
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { open } from 'lmdb'
import { decodePlace, encodePlace, PLACE_BYTES } from '../src/catalog/place-record.ts'
import { ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { DamagedRecord } from '../src/log-store/damaged-record.ts'
import { fuzzParameters } from './fuzz-parameters.ts'
import { assertCode, tempDir, txItems } from './helpers.ts'

const handle = fc
  .tuple(fc.integer({ min: 0, max: 0x7ff_ffff }), fc.bigInt({ min: 0n, max: 10n ** 20n - 1n }))
  .map(([hash, micros]) => `${hash}-${micros}`)
const place = fc.record({ partition: fc.nat({ max: 255 }), shapeId: fc.integer({ min: 1, max: 0xffff_ffff }) })

test('a place round-trips; a flipped bit, a cut, a longer value or another handle is DamagedRecord', () => {
  const { seed, path, runs } = fuzzParameters('PLACE_RECORD', 200)
  fc.assert(
    fc.property(handle, handle, place, (owner, other, where) => {
      const stored = encodePlace(owner, where)
      assert.equal(stored.length, PLACE_BYTES)
      assert.deepEqual(decodePlace(owner, stored), { ...where })
      for (let at = 0; at < stored.length; at++) {
        for (let bit = 0; bit < 8; bit++) {
          const flipped = Buffer.from(stored)
          flipped[at] = (flipped[at] as number) ^ (1 << bit)
          assert.throws(() => decodePlace(owner, flipped), DamagedRecord, `bit ${bit} of byte ${at}`)
        }
      }
      for (let length = 0; length < stored.length; length++) {
        assert.throws(() => decodePlace(owner, stored.subarray(0, length)), DamagedRecord, `cut to ${length}`)
      }
      assert.throws(() => decodePlace(owner, Buffer.concat([stored, Buffer.of(0)])), DamagedRecord, 'one byte longer')
      if (other !== owner) assert.throws(() => decodePlace(other, stored), DamagedRecord, 'under another handle')
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test("a damaged place record: the shape's first read is STORAGE_CORRUPT naming the catalog and the handle", async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const { handle: damaged } = await engine.getOrCreateShape({ table: 'a' })
    const { handle: intact } = await engine.getOrCreateShape({ table: 'b' })
    for (const shape of [damaged, intact]) {
      await engine.makeNewSnapshot(shape, [])
      await engine.appendToLog(shape, txItems(1, 2))
    }
    const intactLatest = engine.fetchLatestOffset(intact)
    await engine.close()
    assert.deepEqual(
      verifyStore(dir).map(({ problem }) => problem),
      verifyStore(dir).map(() => undefined),
      'sound before',
    )

    // The intact shape's record stored under the damaged one's handle: a whole, well-formed value
    // in the wrong place, which only the seal's handle tells apart.
    const env = open({ path: join(dir, 'catalog'), maxDbs: 8 })
    const places = env.openDB({ name: 'places', encoding: 'binary', keyEncoding: 'ordered-binary' })
    await places.put(damaged, places.getBinary(intact) as Buffer)
    await env.close()
    const found = verifyStore(dir).find(({ file }) => file === join(dir, 'catalog', 'data.mdb'))?.problem
    assert.match(
      found ?? '',
      new RegExp(`1 catalog records are damaged .*the place of shape ${damaged}: .*checksum mismatch`),
    )

    const reopened = await openEngine({ dir, partitions: 2 })
    try {
      await assertCode(() => reopened.fetchLatestOffset(damaged), ErrorCode.STORAGE_CORRUPT)
      assert.throws(
        () => reopened.fetchLatestOffset(damaged),
        (error: Error) => error.message.includes(join(dir, 'catalog')) && error.message.includes(damaged),
      )
      assert.deepEqual(reopened.fetchLatestOffset(intact), intactLatest)
    } finally {
      await reopened.close()
    }
  } finally {
    cleanup()
  }
})

test('an entry without its place record, or a place record without its entry, is STORAGE_CORRUPT, not an unknown shape', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    const { handle: placeless } = await engine.getOrCreateShape({ table: 'a' })
    const { handle: entryless } = await engine.getOrCreateShape({ table: 'b' })
    const { handle: intact } = await engine.getOrCreateShape({ table: 'c' })
    await engine.close()

    // What a damaged page does to LMDB's search: the key is no longer found.
    const env = open({ path: join(dir, 'catalog'), maxDbs: 8 })
    const binary = (name: string) =>
      env.openDB<Buffer, string>({ name, encoding: 'binary', keyEncoding: 'ordered-binary' })
    await binary('places').remove(placeless)
    await binary('shapes').remove(entryless)
    await env.close()
    // Found by the checker too: the lookup and the place of the shape with no entry, and (missed
    // before) the entry with no place.
    const found = verifyStore(dir).find(({ file }) => file === join(dir, 'catalog', 'data.mdb'))?.problem
    assert.match(found ?? '', /^3 catalog records are damaged/)

    const reopened = await openEngine({ dir, partitions: 2 })
    try {
      await assertCode(() => reopened.fetchLatestOffset(placeless), ErrorCode.STORAGE_CORRUPT)
      await assertCode(() => reopened.fetchShapeByHandle(entryless), ErrorCode.STORAGE_CORRUPT)
      // Its place is sound: a read of its data needs no more (the miss reads only the place).
      assert.equal(String(reopened.fetchLatestOffset(entryless)), String(reopened.fetchLatestOffset(intact)))
      assert.deepEqual(reopened.fetchShapeByHandle(intact), { table: '"public"."c"', replica: 'default' })
      assert.equal(reopened.fetchShapeByHandle('1-1'), undefined, 'a handle the catalog never issued')
    } finally {
      await reopened.close()
    }
  } finally {
    cleanup()
  }
})
