// Proves the soak's verdicts on synthetic series: the memory-trend rule (soak/memory-trend.ts)
// passes flat series however noisy or sawtoothed, and a warm-up ramp; it fails steady growth and
// growth that only starts late; too few samples are inconclusive. And the leak check reports
// exactly what grew.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { judgeTrend, type TrendPoint, type TrendRule } from '../soak/memory-trend.ts'
import { leaked } from '../soak/resources.ts'

const MIB = 1024 * 1024
const RULE: TrendRule = { warmupFraction: 0.25, relTolerance: 0.1, absToleranceBytes: 4 * MIB, minSamples: 12 }

/** 120 samples, one per 5 s (a 10-minute soak), value(i) in bytes. */
function series(value: (i: number) => number): TrendPoint[] {
  return Array.from({ length: 120 }, (_, i) => ({ tMs: i * 5000, value: value(i) }))
}

/** Deterministic noise in [-1, 1). */
const noise = (i: number) => ((i * 7919) % 200) / 100 - 1

test('flat series are bounded, with noise, a GC sawtooth, or after a warm-up ramp', () => {
  assert.equal(
    judgeTrend(
      series(() => 100 * MIB),
      RULE,
    ).verdict,
    'bounded',
  )
  assert.equal(
    judgeTrend(
      series((i) => 100 * MIB + 3 * MIB * noise(i)),
      RULE,
    ).verdict,
    'bounded',
  )
  assert.equal(
    judgeTrend(
      series((i) => 100 * MIB + (i % 10) * 2 * MIB),
      RULE,
    ).verdict,
    'bounded',
  )
  // Ramps up over the first fifth (caches, threads, maps), then flat.
  assert.equal(
    judgeTrend(
      series((i) => 50 * MIB + Math.min(i, 24) * 2 * MIB),
      RULE,
    ).verdict,
    'bounded',
  )
})

test('steady growth is growing', () => {
  const verdict = judgeTrend(
    series((i) => 100 * MIB + i * 0.5 * MIB),
    RULE,
  )
  assert.equal(verdict.verdict, 'growing')
  assert.ok(verdict.growth > verdict.allowed)
})

test('growth that starts late is growing (the rise within the second half)', () => {
  // Flat for 90 samples, then +1 MiB per sample: the second half's median barely moves.
  const verdict = judgeTrend(
    series((i) => 100 * MIB + Math.max(0, i - 90) * 1 * MIB),
    RULE,
  )
  assert.equal(verdict.verdict, 'growing')
  assert.ok(verdict.secondHalfRise > verdict.allowed)
})

test('too few samples after the warm-up are inconclusive', () => {
  const points = Array.from({ length: 10 }, (_, i) => ({ tMs: i * 1000, value: MIB }))
  assert.equal(judgeTrend(points, RULE).verdict, 'inconclusive')
})

test('the leak check reports every resource type and the thread count that grew, nothing else', () => {
  const before = { active: new Map([['FSReqPromise', 1]]), osThreads: 12 }
  assert.deepEqual(leaked(before, { active: new Map(), osThreads: 12 }), [])
  assert.deepEqual(leaked(before, { active: new Map([['FSReqPromise', 1]]), osThreads: 11 }), [])
  assert.deepEqual(
    leaked(before, {
      active: new Map([
        ['Timeout', 2],
        ['MessagePort', 1],
        ['FSReqPromise', 1],
      ]),
      osThreads: 14,
    }),
    ['Timeout: 0 -> 2', 'MessagePort: 0 -> 1', 'OS threads: 12 -> 14'],
  )
})
