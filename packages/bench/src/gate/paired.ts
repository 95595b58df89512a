// Paired statistics for an A/B of two revisions measured in interleaved fresh processes: pair i
// is base and head measured back to back, so whatever the machine did at that moment hits both,
// and the per-pair ratio cancels it. Pure functions; tested on synthetic samples.
import { prng } from '../stats.ts'

/** The median, the mean of the middle two for an even count (no lean either way). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * One-sided p-value of the Wilcoxon signed-rank test that the differences `d` lean positive
 * (head costlier than base). Exact null distribution (2^n sign patterns, counted by dynamic
 * programming over rank sums) up to 40 pairs, the normal approximation beyond. Zero differences
 * are dropped; ties share their mean rank (the exact distribution then uses the rounded ranks
 * doubled, which keeps it exact for the half-integer ranks ties produce).
 */
export function wilcoxonGreater(d: readonly number[]): number {
  const nonzero = d.filter((x) => x !== 0)
  const n = nonzero.length
  if (n === 0) return 1
  const order = nonzero.map((x, i) => ({ abs: Math.abs(x), i })).sort((a, b) => a.abs - b.abs)
  // Ranks doubled, so tied (half-integer) ranks are integers.
  const rank2 = new Array<number>(n)
  for (let start = 0; start < n; ) {
    let end = start
    while (end + 1 < n && (order[end + 1] as { abs: number }).abs === (order[start] as { abs: number }).abs) end++
    const shared = start + end + 2 // (rank(start) + rank(end)) with ranks 1-based, doubled / 2 * 2
    for (let k = start; k <= end; k++) rank2[(order[k] as { i: number }).i] = shared
    start = end + 1
  }
  let wPlus2 = 0
  nonzero.forEach((x, i) => {
    if (x > 0) wPlus2 += rank2[i] as number
  })
  const total2 = rank2.reduce((a, b) => a + b, 0)
  if (n > 40) {
    const mean = total2 / 4
    const variance = rank2.reduce((s, r) => s + r * r, 0) / 16
    return 1 - normalCdf((wPlus2 / 2 - mean - 0.5) / Math.sqrt(variance))
  }
  // counts[s] = sign patterns whose positive doubled ranks sum to s.
  let counts = new Float64Array(total2 + 1)
  counts[0] = 1
  for (const r of rank2) {
    const next = new Float64Array(total2 + 1)
    for (let s = 0; s <= total2; s++) {
      const c = counts[s] as number
      if (c === 0) continue
      next[s] = (next[s] as number) + c
      next[s + r] = (next[s + r] as number) + c
    }
    counts = next
  }
  let atLeast = 0
  for (let s = wPlus2; s <= total2; s++) atLeast += counts[s] as number
  return atLeast / 2 ** n
}

function normalCdf(z: number): number {
  // Abramowitz-Stegun 7.1.26 on erf: plenty for a p-value past 40 pairs.
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2)
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
  const erf = 1 - poly * Math.exp(-(z * z) / 2)
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2
}

/** A percentile bootstrap interval of the median of `values` (seeded: the same samples give the same interval). */
export function bootstrapMedianInterval(
  values: readonly number[],
  confidence = 0.95,
  resamples = 2_000,
): [number, number] {
  if (values.length === 0) return [Number.NaN, Number.NaN]
  const random = prng(0x5eed)
  const medians = new Float64Array(resamples)
  const sample = new Array<number>(values.length)
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < values.length; i++) sample[i] = values[Math.floor(random() * values.length)] as number
    medians[r] = median(sample)
  }
  medians.sort()
  const tail = (1 - confidence) / 2
  return [
    medians[Math.floor(tail * (resamples - 1))] as number,
    medians[Math.ceil((1 - tail) * (resamples - 1))] as number,
  ]
}

/** Coefficient of variation (sample sd / mean) of one side's figures across its processes. */
export function coefficientOfVariation(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)
  return Math.sqrt(variance) / mean
}

export interface PairedComparison {
  /** Pairs compared. */
  readonly n: number
  /** Median over pairs of head cost / base cost: 1.25 = head 25 % slower. */
  readonly ratio: number
  /** 95 % bootstrap interval of that median. */
  readonly interval: readonly [number, number]
  /** One-sided Wilcoxon p that head is slower / faster than base. */
  readonly pSlower: number
  readonly pFaster: number
  /** CV across processes of each side's figures. */
  readonly cvBase: number
  readonly cvHead: number
}

/**
 * Compares paired figures as costs (bigger = worse; a rate is inverted first), on the log of the
 * per-pair ratio, so slower and faster are symmetric.
 */
export function comparePaired(
  base: readonly number[],
  head: readonly number[],
  better: 'lower' | 'higher',
): PairedComparison {
  if (base.length !== head.length) throw new Error(`unpaired samples: ${base.length} base, ${head.length} head`)
  const logRatios = base.map((b, i) => {
    const h = head[i] as number
    return better === 'lower' ? Math.log(h / b) : Math.log(b / h)
  })
  const [low, high] = bootstrapMedianInterval(logRatios)
  return {
    n: logRatios.length,
    ratio: Math.exp(median(logRatios)),
    interval: [Math.exp(low), Math.exp(high)],
    pSlower: wilcoxonGreater(logRatios),
    pFaster: wilcoxonGreater(logRatios.map((x) => -x)),
    cvBase: coefficientOfVariation(base),
    cvHead: coefficientOfVariation(head),
  }
}
