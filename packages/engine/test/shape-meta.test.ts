/**
 * Pins the stored form of a shape's metadata (shape-meta.ts, layout in record-layout.ts): any
 * metadata round-trips; every single-bit flip of a stored record, a record cut short and a
 * record read under another shape id are DamagedRecord, never metadata; records of data format 2
 * (msgpack maps, with or without msgpackr's records) still read, and ones of the wrong form are
 * DamagedRecord. Fuzzed, seeded and replayable:
 *   SHAPE_META_SEED=<seed> [SHAPE_META_RUNS=<n>] node --import tsx --test test/shape-meta.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { LogOffset } from '../src/log-offset.ts'
import { DamagedRecord } from '../src/log-store/damaged-record.ts'
import { META_BYTES, META_SEAL_AT, META_VALUE_MARK } from '../src/log-store/record-layout.ts'
import { decodeMetaValue, encodeMetaValue, NEW_SHAPE_META, type ShapeMeta } from '../src/log-store/shape-meta.ts'
import { fuzzParameters } from './fuzz-parameters.ts'

const part = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
/** An xmin with room for xmax up to 1,001 above it. */
const xmin = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1001 })

const shapeMeta: fc.Arbitrary<ShapeMeta> = fc.record({
  lastTxnOffset: fc.oneof(
    fc.constant(LogOffset.LAST_BEFORE_REAL),
    fc.tuple(part, part).map(([tx, op]) => LogOffset.of(tx, op)),
  ),
  pgSnapshot: fc.option(
    fc
      .tuple(xmin, fc.integer({ min: 0, max: 1000 }), fc.array(fc.nat({ max: 999 }), { maxLength: 12 }), fc.boolean())
      .map(([xmin, span, xips, filterTxns]) => ({
        xmin,
        xmax: xmin + span + 1,
        xipList: [...new Set(xips.map((x) => xmin + (x % (span + 1))))].sort((a, b) => a - b),
        filterTxns,
      })),
  ),
  snapshotStarted: fc.boolean(),
  lastSnapshotChunk: fc.option(fc.nat()),
  openChunkBytes: fc.nat(),
})

const shapeId = fc.integer({ min: 0, max: 0xffff_ffff })

function assertDamaged(read: () => unknown, what: string): void {
  assert.throws(read, DamagedRecord, what)
}

test('metadata round-trips through its stored record, which starts with the mark and carries a seal', () => {
  const { seed, path, runs } = fuzzParameters('SHAPE_META', 300)
  fc.assert(
    fc.property(shapeId, shapeMeta, (id, meta) => {
      const stored = encodeMetaValue(id, meta)
      assert.equal(stored[0], META_VALUE_MARK)
      assert.ok(stored.length >= META_BYTES)
      assert.deepEqual(decodeMetaValue(id, stored), { ...meta })
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
  assert.equal(decodeMetaValue(1, undefined), NEW_SHAPE_META, 'nothing stored: a new shape')
})

test('every single-bit flip, a cut and another shape id are DamagedRecord', () => {
  const { seed, path, runs } = fuzzParameters('SHAPE_META', 40)
  fc.assert(
    fc.property(shapeId, shapeMeta, (id, meta) => {
      const stored = encodeMetaValue(id, meta)
      for (let at = 0; at < stored.length; at++) {
        for (let bit = 0; bit < 8; bit++) {
          const flipped = Buffer.from(stored)
          flipped[at] = (flipped[at] as number) ^ (1 << bit)
          assertDamaged(() => decodeMetaValue(id, flipped), `bit ${bit} of byte ${at} flipped`)
        }
      }
      for (let length = 0; length < stored.length; length++) {
        assertDamaged(() => decodeMetaValue(id, stored.subarray(0, length)), `cut to ${length} bytes`)
      }
      assertDamaged(() => decodeMetaValue((id + 1) % 2 ** 32, stored), 'read under another shape id')
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
  assert.equal(META_SEAL_AT, 1, 'the seal follows the mark')
})

test('records of data format 2 read; ones of the wrong form are DamagedRecord', () => {
  const legacy = {
    lastTxnOffset: [12, 3],
    pgSnapshot: { xmin: 5, xmax: 9, xipList: [6], filterTxns: true },
    snapshotStarted: true,
    lastSnapshotChunk: 0,
    openChunkBytes: 210,
  }
  const expected: ShapeMeta = { ...legacy, lastTxnOffset: LogOffset.of(12, 3) }
  for (const useRecords of [false, true]) {
    assert.deepEqual(decodeMetaValue(7, new Packr({ useRecords }).pack(legacy)), expected, `useRecords ${useRecords}`)
  }
  const wrongForms: unknown[] = [
    42,
    null,
    [],
    { ...legacy, lastTxnOffset: [12] },
    { ...legacy, lastTxnOffset: [-5, 3] },
    { ...legacy, snapshotStarted: 'yes' },
    { ...legacy, lastSnapshotChunk: -1 },
    { ...legacy, openChunkBytes: 1.5 },
    { ...legacy, pgSnapshot: { xmin: 9, xmax: 5, xipList: [] } },
  ]
  for (const form of wrongForms) {
    assertDamaged(() => decodeMetaValue(7, new Packr({ useRecords: false }).pack(form)), JSON.stringify(form))
  }
})

test('a sealed record whose pg snapshot Postgres could not produce is DamagedRecord', () => {
  // Sealed as the encoder seals anything it is given: only the decoder's own check stands.
  const base = { ...NEW_SHAPE_META, snapshotStarted: true }
  const wrong = [
    { xmin: 10, xmax: 5, xipList: [], filterTxns: true },
    { xmin: 5, xmax: 10, xipList: [10], filterTxns: true },
    { xmin: 5, xmax: 10, xipList: [4], filterTxns: false },
    { xmin: 0, xmax: 2 ** 60, xipList: [], filterTxns: true },
  ]
  for (const pgSnapshot of wrong) {
    assertDamaged(() => decodeMetaValue(7, encodeMetaValue(7, { ...base, pgSnapshot })), JSON.stringify(pgSnapshot))
  }
  const empty = decodeMetaValue(
    7,
    encodeMetaValue(7, { ...base, pgSnapshot: { xmin: 5, xmax: 9, xipList: [], filterTxns: true } }),
  )
  assert.deepEqual(empty.pgSnapshot, { xmin: 5, xmax: 9, xipList: [], filterTxns: true })
})
