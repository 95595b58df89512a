/**
 * Pins the catalog's sealed values (catalog/catalog-records.ts): a shape's entry and a
 * definition's lookup round-trip; every single-bit flip, a cut and a value read under another
 * key are DamagedRecord, never another shape; values of data format 3 (a msgpack map, the
 * handle as a string) still read, and ones of the wrong form are DamagedRecord. Fuzzed, seeded
 * and replayable:
 *   CATALOG_RECORDS_SEED=<seed> [CATALOG_RECORDS_RUNS=<n>] node --import tsx --test test/catalog-records.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import {
  decodeEntry,
  decodeLookup,
  encodeEntry,
  encodeLookup,
  type StoredEntry,
} from '../src/catalog/catalog-records.ts'
import { DamagedRecord } from '../src/log-store/damaged-record.ts'
import { canonicalShape } from '../src/shape.ts'
import { fuzzParameters } from './fuzz-parameters.ts'

const handle = fc
  .tuple(fc.integer({ min: 0, max: 0x7ff_ffff }), fc.bigInt({ min: 0n, max: 10n ** 20n - 1n }))
  .map(([hash, micros]) => `${hash}-${micros}`)
const entry: fc.Arbitrary<StoredEntry> = fc
  .record({
    table: fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/),
    where: fc.option(fc.string({ maxLength: 40 })),
    columns: fc.option(fc.uniqueArray(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), { minLength: 1, maxLength: 4 })),
    partition: fc.nat({ max: 255 }),
    shapeId: fc.integer({ min: 1, max: 0xffff_ffff }),
  })
  .map(({ table, where, columns, partition, shapeId }) => ({
    shape: canonicalShape({ table, ...(where === null ? {} : { where }), ...(columns === null ? {} : { columns }) }),
    partition,
    shapeId,
  }))
const digest = fc.stringMatching(/^[0-9a-f]{64}$/)

/** Every single-bit flip and every cut of `stored` is DamagedRecord. */
function assertEveryFlipAndCutDamaged(stored: Buffer, decode: (value: Buffer) => unknown): void {
  for (let at = 0; at < stored.length; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = Buffer.from(stored)
      flipped[at] = (flipped[at] as number) ^ (1 << bit)
      assert.throws(() => decode(flipped), DamagedRecord, `bit ${bit} of byte ${at}`)
    }
  }
  for (let length = 0; length < stored.length; length++) {
    assert.throws(() => decode(stored.subarray(0, length)), DamagedRecord, `cut to ${length}`)
  }
}

test('an entry round-trips; a flipped bit, a cut or another handle is DamagedRecord', () => {
  const { seed, path, runs } = fuzzParameters('CATALOG_RECORDS', 60)
  fc.assert(
    fc.property(handle, handle, entry, (owner, other, stored) => {
      const value = encodeEntry(owner, stored)
      assert.deepEqual(decodeEntry(owner, value), { ...stored })
      assertEveryFlipAndCutDamaged(value, (damaged) => decodeEntry(owner, damaged))
      if (other !== owner) assert.throws(() => decodeEntry(other, value), DamagedRecord, 'under another handle')
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test('a lookup round-trips; a flipped bit, a cut or another digest is DamagedRecord', () => {
  const { seed, path, runs } = fuzzParameters('CATALOG_RECORDS', 200)
  fc.assert(
    fc.property(digest, digest, handle, (owner, other, named) => {
      const value = encodeLookup(owner, named)
      assert.equal(decodeLookup(owner, value), named)
      assertEveryFlipAndCutDamaged(value, (damaged) => decodeLookup(owner, damaged))
      if (other !== owner) assert.throws(() => decodeLookup(other, value), DamagedRecord, 'under another digest')
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test('values of data format 3 read; ones of the wrong form are DamagedRecord', () => {
  const stored: StoredEntry = { shape: canonicalShape({ table: 'items', where: 'id = 1' }), partition: 3, shapeId: 7 }
  for (const useRecords of [false, true]) {
    const legacy = new Packr({ useRecords }).pack(stored)
    assert.deepEqual(decodeEntry('1-2', legacy), stored, `useRecords ${useRecords}`)
  }
  assert.equal(decodeLookup('ab', Buffer.from('12-345')), '12-345')
  const wrongEntries: unknown[] = [
    42,
    null,
    { ...stored, partition: -1 },
    { ...stored, shapeId: 0 },
    { ...stored, shape: { ...stored.shape, table: 5 } },
    { ...stored, shape: { ...stored.shape, columns: [1] } },
    { ...stored, shape: { ...stored.shape, replica: 'some' } },
  ]
  for (const form of wrongEntries) {
    assert.throws(
      () => decodeEntry('1-2', new Packr({ useRecords: false }).pack(form)),
      DamagedRecord,
      JSON.stringify(form),
    )
  }
  assert.throws(() => decodeEntry('1-2', Buffer.from([0x92])), DamagedRecord, 'not msgpack')
  for (const text of ['', 'x', '12-', '-3', '1-2 ']) {
    assert.throws(() => decodeLookup('ab', Buffer.from(text)), DamagedRecord, JSON.stringify(text))
  }
})
