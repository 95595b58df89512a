/**
 * Decides whether a memory series stayed bounded over a soak. The rule, and why:
 *
 * 1. Drop the warm-up (the first `warmupFraction` of the samples): JIT, LMDB maps, reader and
 *    writer threads, the key table and the allocator's pools fill up once, then stay.
 * 2. Split the rest into two halves by time and compare their medians. A median ignores the
 *    sawtooth of garbage collection and one-off spikes; a leak of a steady rate shows as the second
 *    half's median sitting above the first's by about rate x half the measured time.
 * 3. Growth is allowed up to max(absToleranceBytes, relTolerance x first-half median): allocator
 *    fragmentation and caches that settle late move a few percent without any leak.
 * 4. The second half must not be climbing on its own either: its least-squares slope, taken over
 *    the half's duration, must also stay within the same allowance. This catches a leak that only
 *    starts late, whose effect on the second half's median is still small.
 *
 * Honest limit: a leak slower than the allowance per half of the run is not detected; longer
 * runs detect slower leaks.
 */
export interface TrendRule {
  readonly warmupFraction: number
  readonly relTolerance: number
  readonly absToleranceBytes: number
  /** Fewer samples after the warm-up than this: the verdict is `inconclusive`. */
  readonly minSamples: number
}

export interface TrendPoint {
  readonly tMs: number
  readonly value: number
}

export interface TrendVerdict {
  readonly verdict: 'bounded' | 'growing' | 'inconclusive'
  readonly firstMedian: number
  readonly secondMedian: number
  /** secondMedian - firstMedian */
  readonly growth: number
  /** The second half's least-squares slope x its duration. */
  readonly secondHalfRise: number
  readonly allowed: number
  readonly samplesJudged: number
}

export function judgeTrend(points: readonly TrendPoint[], rule: TrendRule): TrendVerdict {
  const sorted = [...points].sort((a, b) => a.tMs - b.tMs)
  const judged = sorted.slice(Math.floor(sorted.length * rule.warmupFraction))
  const half = Math.floor(judged.length / 2)
  const first = judged.slice(0, half)
  const second = judged.slice(judged.length - half)
  if (judged.length < rule.minSamples || half === 0) {
    return {
      verdict: 'inconclusive',
      firstMedian: Number.NaN,
      secondMedian: Number.NaN,
      growth: Number.NaN,
      secondHalfRise: Number.NaN,
      allowed: Number.NaN,
      samplesJudged: judged.length,
    }
  }
  const firstMedian = median(first.map((p) => p.value))
  const secondMedian = median(second.map((p) => p.value))
  const growth = secondMedian - firstMedian
  const duration = (second.at(-1) as TrendPoint).tMs - (second[0] as TrendPoint).tMs
  const secondHalfRise = slope(second) * duration
  const allowed = Math.max(rule.absToleranceBytes, rule.relTolerance * firstMedian)
  const bounded = growth <= allowed && secondHalfRise <= allowed
  return {
    verdict: bounded ? 'bounded' : 'growing',
    firstMedian,
    secondMedian,
    growth,
    secondHalfRise,
    allowed,
    samplesJudged: judged.length,
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Least-squares slope of value over tMs (per ms); 0 for fewer than two distinct times. */
function slope(points: readonly TrendPoint[]): number {
  const n = points.length
  const meanT = points.reduce((sum, p) => sum + p.tMs, 0) / n
  const meanV = points.reduce((sum, p) => sum + p.value, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.tMs - meanT) * (p.value - meanV)
    den += (p.tMs - meanT) ** 2
  }
  return den === 0 ? 0 : num / den
}
