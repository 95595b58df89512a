// The gate's verdict: pure functions from the measured samples (and the committed baseline) to
// one row per check. Fails closed: a figure or counter that is missing, not finite or not
// comparable is a failing row, never a silent pass.
import type { DeclaredChange } from './declared.ts'
import { comparePaired, median, type PairedComparison } from './paired.ts'
import type { ProbeResult, Timed } from './probes.ts'

/** One probe process's answer, or why there is none. */
export type ProbeOutcome =
  | { readonly ok: true; readonly result: ProbeResult }
  | { readonly ok: false; readonly error: string }

/** Probe `probe` measured for both sides, back to back (pair `pair`). Base absent: no A/B. */
export interface PairSample {
  readonly probe: string
  readonly pair: number
  readonly head: ProbeOutcome
  readonly base?: ProbeOutcome
  /** Measured in the confirmation round: fresh pairs of a probe whose figure failed the first. */
  readonly confirming?: boolean
}

/** Everything one gate run measured: what `--json` writes and `--judge` reads. */
export interface GateRecord {
  /** The base revision compared against; null when the A/B could not run (see fallbackReason). */
  readonly baseCommit: string | null
  readonly fallbackReason?: string
  /** Probes the base could not run (an API it lacks, a crash), with why: those have no A/B. */
  readonly baseFailures: Readonly<Record<string, string>>
  /** Measured with --only: the committed figures of probes left out are not missing. */
  readonly partial: boolean
  readonly samples: readonly PairSample[]
  /** Changes this commit declares (declared.ts): new in the head's file, absent from the base's. */
  readonly declared?: readonly DeclaredChange[]
}

/** The committed baseline: the medians of an unchanged tree's head runs (`--record`). */
export interface Baseline {
  readonly generatedAt: string
  readonly timed: Readonly<Record<string, Timed>>
  readonly counters: Readonly<Record<string, number>>
}

export interface GateConfig {
  /** Smallest slowdown the A/B fails on, in percent (the per-pair median ratio must exceed it). */
  readonly minEffectPct: number
  /** One-sided Wilcoxon signed-rank p below which a slowdown counts as real. */
  readonly alpha: number
  /**
   * A figure that fails is measured again in fresh pairs (the confirmation round); it fails only
   * if those lean slower too, at this one-sided p. A first round's false alarm then survives
   * with about this probability; a real slowdown past the minimum effect repeats.
   */
  readonly confirmAlpha: number
  /** The committed baseline check: a figure this much worse than the committed median fails. */
  readonly baselineTolerancePct: number
}

export type RowKind = 'a/b' | 'counter' | 'baseline' | 'measure'

export interface Row {
  readonly kind: RowKind
  readonly figure: string
  readonly unit: string
  readonly base: number | null
  readonly head: number | null
  /** Head over base as a cost, minus 1, in percent (positive = worse). */
  readonly changePct: number | null
  /** The A/B's 95 % interval of the change and its p-value, or why no comparison. */
  readonly confidence: string
  /** Coefficient of variation across processes, base / head, in percent. */
  readonly noise: string
  readonly verdict: 'pass' | 'FAIL' | 'faster'
  readonly detail: string
}

export interface Verdict {
  readonly pass: boolean
  readonly rows: readonly Row[]
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`
const asCost = (value: number, better: 'lower' | 'higher') => (better === 'lower' ? value : 1 / value)

interface Series {
  readonly unit: string
  readonly better: 'lower' | 'higher'
  /** Complete pairs of the first round (with its extra pairs) only, in pair order. */
  readonly base: number[]
  readonly head: number[]
  /** Complete pairs of the confirmation round. */
  readonly confirmBase: number[]
  readonly confirmHead: number[]
  /** Every head value, paired or not (the baseline check's sample when there are no pairs). */
  readonly headAll: number[]
}

/** Collects each timed figure's paired values, and each counter's values per side. */
function collect(samples: readonly PairSample[], rows: Row[]) {
  const timed = new Map<string, Series & { probe: string }>()
  const counters = new Map<string, { base: number[]; head: number[] }>()
  const fail = (figure: string, detail: string) =>
    rows.push({ ...EMPTY, kind: 'measure', figure, verdict: 'FAIL', detail })
  for (const s of samples) {
    if (!s.head.ok) {
      fail(s.probe, `head, pair ${s.pair + 1}: ${s.head.error}`)
      continue
    }
    const base = s.base?.ok === true ? s.base.result : undefined
    for (const [name, figure] of Object.entries(s.head.result.timed)) {
      if (!Number.isFinite(figure.value) || figure.value <= 0) {
        fail(name, `head, pair ${s.pair + 1}: value ${figure.value} is not a positive number`)
        continue
      }
      const series = timed.get(name) ?? {
        probe: s.probe,
        unit: figure.unit,
        better: figure.better,
        base: [],
        head: [],
        confirmBase: [],
        confirmHead: [],
        headAll: [],
      }
      timed.set(name, series)
      const b = base?.timed[name]
      // Only complete pairs are compared; a lone head value still feeds the baseline check.
      series.headAll.push(figure.value)
      if (b !== undefined && Number.isFinite(b.value) && b.value > 0 && b.unit === figure.unit) {
        ;(s.confirming === true ? series.confirmBase : series.base).push(b.value)
        ;(s.confirming === true ? series.confirmHead : series.head).push(figure.value)
      }
    }
    for (const [name, value] of Object.entries(s.head.result.counters)) {
      const c = counters.get(name) ?? { base: [], head: [] }
      counters.set(name, c)
      c.head.push(value)
      const b = base?.counters[name]
      if (b !== undefined) c.base.push(b)
    }
  }
  return { timed, counters }
}

const EMPTY = {
  unit: '',
  base: null,
  head: null,
  changePct: null,
  confidence: '',
  noise: '',
  verdict: 'pass',
  detail: '',
} as const

/** The first round's rule: slower with p < alpha and past the minimum effect. */
const failsFirstRound = (c: PairedComparison, config: GateConfig) =>
  c.pSlower < config.alpha && (c.ratio - 1) * 100 > config.minEffectPct

const pValue = (p: number) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3))

/** Complete pairs an A/B needs to judge a figure at all. */
const AB_MIN_PAIRS = 5

/** Fewer fresh pairs than this cannot reach p < 0.05 (Wilcoxon needs 5 all one way). */
const CONFIRM_MIN_PAIRS = 5

/**
 * Whether the confirmation round repeats a first round's slowdown, and how it reads: slower
 * than the base, or than the base made worse by `allowedPct` for a declared change (a change
 * that costs what it declared must not fail because its first round came out above that).
 */
function confirmation(series: Series, config: GateConfig, allowedPct = 0): { confirmed: boolean; text: string } {
  if (series.confirmBase.length < CONFIRM_MIN_PAIRS) {
    // Fails closed: a first-round failure nothing could check stands.
    return { confirmed: true, text: `no confirmation round (${series.confirmBase.length} fresh pairs): fails closed` }
  }
  const c = comparePaired(series.confirmBase, series.confirmHead, series.better)
  const measured = `${pct((c.ratio - 1) * 100)} p=${pValue(c.pSlower)} in ${c.n} fresh pairs`
  const allowance = 1 + allowedPct / 100
  // The base at the declared allowance: a cost times it, a rate over it.
  const allowedBase = series.confirmBase.map((b) => (series.better === 'lower' ? b * allowance : b / allowance))
  const past = allowedPct === 0 ? c : comparePaired(allowedBase, series.confirmHead, series.better)
  const confirmed = past.pSlower < config.confirmAlpha && past.ratio > 1
  return { confirmed, text: confirmed ? `confirmed: ${measured}` : measured }
}

function abRow(name: string, series: Series, config: GateConfig, declared: DeclaredChange | undefined): Row {
  const c = comparePaired(series.base, series.head, series.better)
  const change = (c.ratio - 1) * 100
  const effect = config.minEffectPct
  const firstRound = failsFirstRound(c, config)
  const faster = c.pFaster < config.alpha && change < -effect
  const interval = `[${pct((c.interval[0] - 1) * 100)}, ${pct((c.interval[1] - 1) * 100)}]`
  const p = firstRound || change >= 0 ? c.pSlower : c.pFaster
  const allowed = declared?.worseByPctMax
  const declaredOk = firstRound && allowed !== undefined && change <= allowed
  // A figure that fails the first round fails the gate only if fresh pairs repeat it (missing
  // fresh pairs fail closed).
  const again = firstRound && !declaredOk ? confirmation(series, config, allowed) : undefined
  const slower = again?.confirmed === true
  return {
    kind: 'a/b',
    figure: name,
    unit: series.unit,
    base: median(series.base),
    head: median(series.head),
    changePct: change,
    confidence: `${interval} p=${pValue(p)} n=${c.n}`,
    noise: `${(c.cvBase * 100).toFixed(1)}% / ${(c.cvHead * 100).toFixed(1)}%`,
    verdict: slower ? 'FAIL' : faster ? 'faster' : 'pass',
    detail: declaredOk
      ? `DECLARED: slower by ${pct(change)}, up to +${allowed}% declared (${declared?.reason})`
      : slower
        ? `slower by ${pct(change)} in the median pair (p < ${config.alpha}, past the ${effect}% minimum effect)${allowed === undefined ? '' : `, past the +${allowed}% declared`}; ${again?.text}`
        : again !== undefined
          ? `NOT CONFIRMED: slower by ${pct(change)} in the first round, but ${again.text} (not p < ${config.confirmAlpha} slower): noise of the first round`
          : faster
            ? `faster by ${pct(-change).slice(1)}`
            : c.pSlower < config.alpha
              ? `slower but under the ${effect}% minimum effect`
              : '',
  }
}

function counterRow(
  name: string,
  values: { base: number[]; head: number[] },
  baseline: Baseline | undefined,
  declared: DeclaredChange | undefined,
): Row {
  const distinct = (xs: number[]) => [...new Set(xs)]
  const head = distinct(values.head)
  const base = distinct(values.base)
  const row = { ...EMPTY, kind: 'counter' as const, figure: name, head: head[0] ?? null }
  if (head.length > 1) return { ...row, verdict: 'FAIL', detail: `not exact: head gave ${head.join(', ')}` }
  if (base.length > 1) return { ...row, verdict: 'FAIL', detail: `not exact: base gave ${base.join(', ')}` }
  const [reference, from] =
    base.length === 1 ? [base[0] as number, 'base'] : [baseline?.counters[name], 'committed baseline']
  if (reference === undefined) return { ...row, detail: 'new counter: nothing to compare with yet' }
  const changed = reference !== head[0]
  const declaredOk = changed && declared?.to === head[0]
  return {
    ...row,
    base: reference,
    changePct: reference === 0 ? null : (((head[0] as number) - reference) / reference) * 100,
    verdict: changed && !declaredOk ? 'FAIL' : 'pass',
    detail: declaredOk
      ? `DECLARED: moved from ${reference} to ${head[0]} (${declared?.reason})`
      : changed
        ? `changed from ${reference} (${from}): a counter must not move${declared === undefined ? '' : ` (declared: to ${declared.to})`}`
        : `equal to the ${from}`,
  }
}

/** Fewer figures than this cannot tell the machine's speed from one figure's drift. */
const MACHINE_FACTOR_MIN_FIGURES = 3

/**
 * How much slower this machine runs than the one that recorded the baseline: the median, over
 * the timed figures, of the base's median cost over the committed one. The base is an older
 * tree, not the baseline's, but a median over many figures is the machine's speed, not one
 * figure's drift, so one figure that drifted still stands out against it. Undefined without a
 * base or with too few figures to tell machine from drift.
 */
function machineFactor(
  timed: ReadonlyMap<string, Series>,
  baseline: Baseline,
): { readonly factor: number; readonly figures: number } | undefined {
  const ratios: number[] = []
  for (const [name, series] of timed) {
    const committed = baseline.timed[name]
    if (committed === undefined || series.base.length === 0) continue
    if (committed.unit !== series.unit || committed.better !== series.better) continue
    ratios.push(asCost(median(series.base), series.better) / asCost(committed.value, committed.better))
  }
  return ratios.length < MACHINE_FACTOR_MIN_FIGURES ? undefined : { factor: median(ratios), figures: ratios.length }
}

/**
 * The head's level for the baseline check. With pairs: the base's median moved by the pairs'
 * median ratio, so both sides are read in the same processes' terms. A figure whose processes
 * fall into two modes (hit_shared_ns here: ~70 or ~110 ns a process, base and head alike) can
 * put each side's own median in a different mode while the pairs agree: the head's own median
 * failed the check at +64 % in a run whose pairs said +4 %. Without pairs: the head's median.
 */
function headLevel(series: Series, pairs: RunPairs): number {
  if (pairs.base.length === 0) return median(series.headAll)
  const logRatios = pairs.base.map((b, i) => Math.log((pairs.head[i] as number) / b))
  return median(pairs.base) * Math.exp(median(logRatios))
}

interface RunPairs {
  readonly base: readonly number[]
  readonly head: readonly number[]
}

/**
 * The pairs the A/B's verdict rests on: the confirmation round's when it ran (a first round it
 * overruled is the reading the A/B rejected; one it confirmed fails the A/B anyway), else the
 * first round's. A CI run's first round put the head 35 % under the base in log_read_gbps, 14
 * fresh pairs read both at one level, and the check, reading the first round, failed the head.
 * The machine's speed still comes from first rounds (machineFactor): every probe has one.
 */
const verdictPairs = (series: Series): RunPairs =>
  series.confirmBase.length >= CONFIRM_MIN_PAIRS
    ? { base: series.confirmBase, head: series.confirmHead }
    : { base: series.base, head: series.head }

function baselineRow(
  name: string,
  series: Series,
  baseline: Baseline,
  config: GateConfig,
  declared: DeclaredChange | undefined,
  machine: ReturnType<typeof machineFactor>,
): Row {
  const committed = baseline.timed[name]
  const pairs = verdictPairs(series)
  const row = { ...EMPTY, kind: 'baseline' as const, figure: name, unit: series.unit, head: headLevel(series, pairs) }
  if (committed === undefined) return { ...row, detail: 'not in the committed baseline yet' }
  if (committed.unit !== series.unit || committed.better !== series.better) {
    return { ...row, verdict: 'FAIL', detail: `unit changed from ${committed.unit} to ${series.unit}` }
  }
  // The committed figure as this machine would measure it: a cost scales by the factor, a rate
  // by its inverse.
  const factor = machine?.factor ?? 1
  const expected = series.better === 'lower' ? committed.value * factor : committed.value / factor
  const change = (asCost(row.head, series.better) / asCost(expected, committed.better) - 1) * 100
  // A declared slowdown widens the coarse check by as much, for the declaring commit.
  const tolerance = ((1 + config.baselineTolerancePct / 100) * (1 + (declared?.worseByPctMax ?? 0) / 100) - 1) * 100
  const worse = change > tolerance
  const scaled =
    machine === undefined
      ? ''
      : ` × ${factor.toFixed(2)}, this machine's speed (the base's median over the committed, median of ${machine.figures} figures)`
  // The base measured in this run out of bounds too: the change under test did not cross the
  // bound (the A/B judges it against the base); this machine, for this figure, or an earlier
  // change did. The check fails the change that crosses it.
  const baseChange =
    pairs.base.length === 0
      ? undefined
      : (asCost(median(pairs.base), series.better) / asCost(expected, committed.better) - 1) * 100
  const baseWorse = baseChange !== undefined && baseChange > tolerance
  return {
    ...row,
    base: expected,
    changePct: change,
    verdict: worse && !baseWorse ? 'FAIL' : 'pass',
    detail: !worse
      ? `within ${tolerance.toFixed(0)}% of the committed baseline${scaled}${declared === undefined ? '' : ' (declared change included)'}`
      : baseWorse
        ? `worse than the committed baseline${scaled} by more than ${tolerance.toFixed(0)}%, and so is the base in this run (${baseChange.toFixed(0)}%): not this change; if it persists, re-record the baseline (--record)`
        : `worse than the committed baseline (${baseline.generatedAt.slice(0, 10)})${scaled} by more than ${tolerance.toFixed(0)}%`,
  }
}

/**
 * The verdict: every timed figure A/B-compared over its pairs (when there is a base), every
 * counter compared exactly with the base (or the committed baseline where the base lacks it),
 * and every timed figure's head level checked coarsely against the committed baseline.
 */
export function judge(config: GateConfig, record: GateRecord, committed: unknown): Verdict {
  const rows: Row[] = []
  const baseline = isBaseline(committed) ? committed : undefined
  if (record.samples.length === 0)
    rows.push({ ...EMPTY, kind: 'measure', figure: '*', verdict: 'FAIL', detail: 'nothing was measured' })
  const { timed, counters } = collect(record.samples, rows)
  const declared = new Map((record.declared ?? []).map((d) => [d.figure, d]))
  for (const d of record.declared ?? []) {
    if (!timed.has(d.figure) && !counters.has(d.figure)) {
      rows.push({
        ...EMPTY,
        kind: 'measure',
        figure: d.figure,
        verdict: 'FAIL',
        detail: 'declared, but no probe measures it',
      })
    }
  }
  const machine = baseline === undefined ? undefined : machineFactor(timed, baseline)
  for (const [name, series] of timed) {
    const baseFailed = record.baseFailures[series.probe]
    // A base that cannot run the probe (an API it lacks) leaves the baseline only; one that
    // failed a run or two (a hang, a timeout) still has its complete pairs judged.
    if (record.baseCommit !== null && baseFailed !== undefined && series.base.length < AB_MIN_PAIRS) {
      rows.push({
        ...EMPTY,
        kind: 'a/b',
        figure: name,
        detail: `NO A/B: the base could not run ${series.probe} (${baseFailed}); the committed baseline only`,
      })
    } else if (record.baseCommit !== null) {
      rows.push(
        series.base.length >= AB_MIN_PAIRS
          ? abRow(name, series, config, declared.get(name))
          : {
              ...EMPTY,
              kind: 'a/b',
              figure: name,
              verdict: 'FAIL',
              detail: `only ${series.base.length} complete pairs (the base failed?)`,
            },
      )
    }
    if (baseline !== undefined) rows.push(baselineRow(name, series, baseline, config, declared.get(name), machine))
  }
  for (const [name, values] of counters) rows.push(counterRow(name, values, baseline, declared.get(name)))
  if (baseline === undefined) {
    rows.push({
      ...EMPTY,
      kind: 'baseline',
      figure: '*',
      verdict: 'FAIL',
      detail: 'no committed baseline, or not one `--record` wrote',
    })
  } else {
    for (const name of [...Object.keys(baseline.timed), ...Object.keys(baseline.counters)]) {
      if (!record.partial && !timed.has(name) && !counters.has(name)) {
        // A figure that stopped being measured is a gap in the gate, not a pass.
        rows.push({
          ...EMPTY,
          kind: 'measure',
          figure: name,
          verdict: 'FAIL',
          detail: 'in the committed baseline but not measured',
        })
      }
    }
  }
  return { pass: rows.length > 0 && rows.every((r) => r.verdict !== 'FAIL'), rows }
}

function isBaseline(value: unknown): value is Baseline {
  if (typeof value !== 'object' || value === null) return false
  const b = value as Record<string, unknown>
  const record = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x)
  if (typeof b.generatedAt !== 'string' || !record(b.timed) || !record(b.counters)) return false
  const timedOk = Object.values(b.timed as object).every(
    (t) =>
      record(t) &&
      typeof t.value === 'number' &&
      typeof t.unit === 'string' &&
      (t.better === 'lower' || t.better === 'higher'),
  )
  return timedOk && Object.values(b.counters as object).every((c) => typeof c === 'number')
}

/** The figures an A/B still cannot decide: slower past the minimum effect but not yet significant. */
export function undecided(config: GateConfig, record: GateRecord): string[] {
  return firstRoundFigures(record, (c) => (c.ratio - 1) * 100 > config.minEffectPct && c.pSlower >= config.alpha)
}

/** The figures that fail the first round: the confirmation round measures their probes again. */
export function failingFirstRound(config: GateConfig, record: GateRecord): string[] {
  return firstRoundFigures(record, (c) => failsFirstRound(c, config))
}

function firstRoundFigures(record: GateRecord, pick: (c: PairedComparison) => boolean): string[] {
  const { timed } = collect(record.samples, [])
  const out: string[] = []
  for (const [name, series] of timed) {
    if (series.base.length < 2) continue
    if (pick(comparePaired(series.base, series.head, series.better))) out.push(name)
  }
  return out
}
