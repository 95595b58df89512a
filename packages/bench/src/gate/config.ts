// The gate's committed settings. The figures behind them are in packages/bench/README.md (the
// gate's selftest and the noise of each probe across processes).
import type { GateConfig } from './judge.ts'

export const gateConfig: GateConfig & {
  /** Pairs of fresh processes per probe in an A/B (Wilcoxon needs 7 all one way for p < 0.01). */
  readonly pairs: number
  /** Pairs an undecided figure (slower past the minimum effect, not yet significant) may grow to. */
  readonly maxPairs: number
  /** Head-only processes per probe when there is no base to compare with. */
  readonly headOnlyRuns: number
} = {
  minEffectPct: 10,
  alpha: 0.01,
  // Coarse: the baseline was recorded at another hour, maybe on another machine of the same
  // kind (scaled by the machine's speed, judge.ts); it catches drift that many small commits
  // add up to, the A/B catches each step.
  baselineTolerancePct: 60,
  pairs: 10,
  maxPairs: 20,
  headOnlyRuns: 5,
}
