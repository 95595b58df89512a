/**
 * Property-based tests of LogOffset against an independent oracle (BigInt arithmetic on the
 * string's parts): every valid offset survives format -> parse -> format; every string either
 * parses to the offset the oracle reads or is INVALID_OFFSET (never another error); and the order
 * of parsed offsets is the order of their strings' values.
 *
 * Seeded and replayable: FUZZ_SEED=<seed> [FUZZ_PATH=<path>] [FUZZ_RUNS=<n>] node --import tsx --test test/log-offset.property.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { EngineError, ErrorCode, LogOffset } from '../src/index.ts'
import { fuzzParameters } from './fuzz-parameters.ts'

const MAX = BigInt(Number.MAX_SAFE_INTEGER)

/** What an offset string means, read without LogOffset: [tx, op] with op null for `inf`; undefined if malformed. */
function oracle(text: string): readonly [bigint, bigint | null] | undefined {
  if (text === '-1') return [-1n, 0n]
  const match = /^([0-9]{1,20})_([0-9]{1,20}|inf)$/.exec(text)
  if (match === null) return undefined
  const tx = BigInt(match[1] as string)
  const op = match[2] === 'inf' ? null : BigInt(match[2] as string)
  if (tx > MAX || (op !== null && op > MAX)) return undefined
  return [tx, op]
}

function oracleCompare(a: readonly [bigint, bigint | null], b: readonly [bigint, bigint | null]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1
  if (a[1] === b[1]) return 0
  if (a[1] === null) return 1
  if (b[1] === null) return -1
  return a[1] < b[1] ? -1 : 1
}

const part = fc.oneof(
  fc.nat(10),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2 ** 32, 2 ** 32 - 1),
)
/** A valid offset's canonical string. */
const validOffset = fc.oneof(
  { weight: 1, arbitrary: fc.constant('-1') },
  { weight: 2, arbitrary: part.map((op) => `0_${op}`) },
  { weight: 1, arbitrary: part.map((tx) => `${tx}_inf`) },
  { weight: 6, arbitrary: fc.tuple(part, part).map(([tx, op]) => `${tx}_${op}`) },
)
/** Strings near the grammar: digits, `_`, `inf`, `-`, signs, spaces, big numbers, leading zeros. */
const nearOffset = fc.oneof(
  validOffset,
  fc
    .tuple(
      fc.stringMatching(/^[0-9]{0,22}$/),
      fc.constantFrom('_', '-', '__', ''),
      fc.stringMatching(/^([0-9]{0,22}|inf|in|INF|-1)$/),
    )
    .map(([a, sep, b]) => `${a}${sep}${b}`),
  fc.bigInt({ min: 0n, max: 2n ** 70n }).map((n) => `${n}_0`),
  fc.bigInt({ min: 0n, max: 2n ** 70n }).map((n) => `1_${n}`),
  fc.tuple(validOffset, fc.string({ maxLength: 2 }), fc.boolean()).map(([o, s, front]) => (front ? s + o : o + s)),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
)

const { seed, path, runs, describe: params } = fuzzParameters('FUZZ', 2000)

async function property<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => void): Promise<void> {
  const details = await fc.check(fc.property(arb, predicate), { seed, numRuns: runs, ...(path ? { path } : {}) })
  if (details.failed) {
    assert.fail(
      `${name}: ${fc.defaultReportMessage(details)}\nReplay: FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath}`,
    )
  }
}

test(`LogOffset properties (${params})`, async (t) => {
  await t.test('format -> parse -> format is the identity on canonical strings', () =>
    property('round trip', validOffset, (text) => {
      const parsed = LogOffset.parse(text)
      assert.equal(parsed.toString(), text)
      assert.ok(LogOffset.parse(parsed.toString()).equals(parsed))
      assert.equal(JSON.stringify(parsed), JSON.stringify(text))
      // The parts rebuild the same offset.
      assert.ok(LogOffset.of(parsed.tx, parsed.op).equals(parsed))
    }),
  )

  await t.test('any string parses to what the oracle reads, or is INVALID_OFFSET', () =>
    property('parse vs oracle', nearOffset, (text) => {
      const expected = oracle(text)
      let parsed: LogOffset | undefined
      try {
        parsed = LogOffset.parse(text)
      } catch (error) {
        assert.ok(error instanceof EngineError && error.code === ErrorCode.INVALID_OFFSET, String(error))
      }
      if (expected === undefined) {
        assert.equal(parsed, undefined, `${JSON.stringify(text)} was accepted as ${parsed}`)
        return
      }
      assert.ok(parsed !== undefined, `${JSON.stringify(text)} was rejected`)
      assert.equal(BigInt(parsed.tx), expected[0])
      assert.equal(parsed.op === Number.POSITIVE_INFINITY ? null : BigInt(parsed.op), expected[1])
      // Leading zeros are accepted; the canonical form re-parses to the same offset.
      assert.ok(LogOffset.parse(parsed.toString()).equals(parsed))
    }),
  )

  await t.test('order of parsed offsets = order of the strings’ values (and of their canonical forms)', () =>
    property('order', fc.tuple(nearOffset, nearOffset), ([a, b]) => {
      const oa = oracle(a)
      const ob = oracle(b)
      if (oa === undefined || ob === undefined) return
      const pa = LogOffset.parse(a)
      const pb = LogOffset.parse(b)
      const expected = oracleCompare(oa, ob)
      assert.equal(LogOffset.compare(pa, pb), expected)
      assert.equal(LogOffset.compare(LogOffset.parse(pa.toString()), LogOffset.parse(pb.toString())), expected)
      assert.equal(pa.isBefore(pb), expected < 0)
      assert.equal(pa.isAfter(pb), expected > 0)
      assert.equal(pa.equals(pb), expected === 0)
      assert.equal(LogOffset.max(pa, pb), expected >= 0 ? pa : pb)
    }),
  )

  await t.test('LogOffset.of accepts exactly integer parts in range, else INVALID_OFFSET', () =>
    property(
      'of',
      fc.tuple(
        fc.oneof(part, fc.double(), fc.integer()),
        fc.oneof(part, fc.double(), fc.constant(Number.POSITIVE_INFINITY)),
      ),
      ([tx, op]) => {
        const isPart = (n: number) => Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER
        const valid = (tx === -1 && op === 0) || (isPart(tx) && (isPart(op) || op === Number.POSITIVE_INFINITY))
        try {
          const offset = LogOffset.of(tx, op)
          assert.ok(valid, `accepted tx=${tx} op=${op}`)
          assert.ok(LogOffset.parse(offset.toString()).equals(offset))
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error
          assert.ok(!valid, `rejected tx=${tx} op=${op}: ${String(error)}`)
          assert.ok(error instanceof EngineError && error.code === ErrorCode.INVALID_OFFSET)
        }
      },
    ),
  )
})
