// The bench gate's decision logic: pure functions from (config, runs, baseline?) to findings.
// Everything here fails closed: a figure that cannot be found, read or compared is a failing
// finding, never a silent pass (a gate that exits 0 on a parse failure is no gate at all).
import type { BenchResults } from '../report.ts'

/** Which way is better for a metric. */
export type Direction = 'lower' | 'higher'

/** A floor and/or ceiling on a ratio measured inside one run (an in-run baseline). */
export interface RatioBound {
  readonly scenario: string
  readonly ratio: string
  readonly min?: number
  readonly max?: number
  /** Why this bound: the goal it guards and the figure it had when it was set. */
  readonly why?: string
}

/** A metric compared against the committed baseline. */
export interface MetricCheck {
  readonly scenario: string
  readonly metric: string
  /** Smallest change that counts, in percent; defaults to the config's defaultTolerancePct. */
  readonly tolerancePct?: number
  /** Overrides the direction derived from the unit. */
  readonly direction?: Direction
}

/** A figure that tracks how fast the machine is, measured in the same process as the others. */
export interface Calibration {
  readonly scenario: string
  readonly metric: string
  readonly direction?: Direction
}

export interface GateConfig {
  readonly ratios: readonly RatioBound[]
  readonly metrics: readonly MetricCheck[]
  readonly defaultTolerancePct: number
  /** When set, baseline metrics are compared as multiples of this figure, not raw. */
  readonly calibration?: Calibration
}

export type FindingKind = 'ratio-floor' | 'baseline' | 'missing' | 'invalid'

export interface Finding {
  readonly scenario: string
  readonly name: string
  readonly kind: FindingKind
  readonly status: 'pass' | 'fail'
  /** The gating figure (the run closest to passing); null when there is none to show. */
  readonly value: number | null
  /** The bound as text, e.g. `>= 20` or `<= +25% vs 12.3`. */
  readonly limit: string
  readonly detail: string
  /** For baseline findings: the change in percent, positive = worse (slowdown - 1). */
  readonly changePct?: number
  /** The figure in every run, in run order, to show what moved. */
  readonly values?: readonly number[]
}

export interface Verdict {
  readonly pass: boolean
  readonly findings: readonly Finding[]
  /** False when no baseline was given: only in-run ratios were checked. */
  readonly baselineChecked: boolean
}

const TIME_UNIT = /^(ns|µs|us|ms|s)(\/|$)/

/**
 * Direction from a unit: per-second units are throughputs (higher is better); units that
 * start with a time (ms, ns/lookup) are costs (lower is better). Anything else is unknown,
 * so the config has to say, rather than the gate guessing and gating the wrong way.
 */
export function directionOf(unit: string): Direction | undefined {
  if (/\/s$/.test(unit)) return 'higher'
  if (TIME_UNIT.test(unit)) return 'lower'
  return undefined
}

/** A problem that makes a whole run or file unusable, as a failing finding. */
export function invalid(scenario: string, name: string, detail: string): Finding {
  return { scenario, name, kind: 'invalid', status: 'fail', value: null, limit: '', detail }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Checks the shape of a results object. Non-finite values are allowed here (JSON writes NaN as
 * null) and reported separately, so a malformed file and an errored task read differently.
 */
export function validateResults(raw: unknown, label: string): { results?: BenchResults; problems: Finding[] } {
  const problems: Finding[] = []
  const bad = (scenario: string, detail: string) => problems.push(invalid(scenario, label, detail))
  if (!isRecord(raw)) return { problems: [invalid('*', label, 'results are not a JSON object')] }
  if (!Array.isArray(raw.scenarios)) return { problems: [invalid('*', label, 'results have no scenarios array')] }
  const seen = new Set<string>()
  raw.scenarios.forEach((s: unknown, i: number) => {
    if (!isRecord(s) || typeof s.scenario !== 'string' || s.scenario === '') {
      bad('*', `scenarios[${i}] has no scenario name`)
      return
    }
    const name = s.scenario
    // Two entries for one scenario make every lookup ambiguous.
    if (seen.has(name)) bad(name, 'scenario appears more than once')
    seen.add(name)
    for (const field of ['metrics', 'ratios'] as const) {
      const figures = s[field]
      if (!isRecord(figures)) {
        bad(name, `${field} is not an object`)
        continue
      }
      for (const [key, figure] of Object.entries(figures)) {
        if (!isRecord(figure) || !(typeof figure.value === 'number' || figure.value === null)) {
          bad(name, `${field}.${key} has no numeric value`)
        } else if (field === 'metrics' && typeof figure.unit !== 'string') {
          bad(name, `metrics.${key} has no unit`)
        }
      }
    }
  })
  return problems.length > 0 ? { problems } : { results: raw as unknown as BenchResults, problems }
}

type Lookup =
  | { readonly found: true; readonly value: number; readonly unit: string }
  | { readonly found: false; readonly why: string }

function lookup(results: BenchResults, scenario: string, kind: 'metrics' | 'ratios', name: string): Lookup {
  const s = results.scenarios.find((r) => r.scenario === scenario)
  if (s === undefined) return { found: false, why: `scenario ${scenario} not in results` }
  const figure = (s[kind] as Record<string, { value: number | null; unit?: string }>)[name]
  if (figure === undefined)
    return { found: false, why: `${kind === 'metrics' ? 'metric' : 'ratio'} ${name} not in ${scenario}` }
  // null is how JSON carries NaN/Infinity; keep it as NaN so the finite check catches it.
  return { found: true, value: figure.value ?? Number.NaN, unit: figure.unit ?? '' }
}

/** Looks a figure up in every run; a failing finding if any run lacks it or has it non-finite. */
function lookupAll(
  runs: readonly BenchResults[],
  scenario: string,
  kind: 'metrics' | 'ratios',
  name: string,
  label = (i: number) => `run ${i + 1}`,
): { values: number[]; units: string[] } | Finding {
  const values: number[] = []
  const units: string[] = []
  for (const [i, run] of runs.entries()) {
    const l = lookup(run, scenario, kind, name)
    if (!l.found)
      return {
        scenario,
        name,
        kind: 'missing',
        status: 'fail',
        value: null,
        limit: '',
        detail: `${label(i)}: ${l.why}`,
      }
    if (!Number.isFinite(l.value)) {
      return invalid(scenario, name, `${label(i)}: value is ${l.value} (an errored or broken measurement)`)
    }
    values.push(l.value)
    units.push(l.unit)
  }
  return { values, units }
}

function boundText(bound: RatioBound): string {
  const parts: string[] = []
  if (bound.min !== undefined) parts.push(`>= ${bound.min}`)
  if (bound.max !== undefined) parts.push(`<= ${bound.max}`)
  return parts.join(' and ')
}

/** How far outside the bound a value is, relative to the bound; 0 inside it. */
function violation(value: number, bound: RatioBound): number {
  let v = 0
  if (bound.min !== undefined && value < bound.min) v = Math.max(v, (bound.min - value) / Math.abs(bound.min || 1))
  if (bound.max !== undefined && value > bound.max) v = Math.max(v, (value - bound.max) / Math.abs(bound.max || 1))
  return v
}

/**
 * A ratio fails only when it is outside its bound in every run: the runs are re-runs of the
 * same tree, so a miss in one of them is noise until it repeats.
 */
export function checkRatio(bound: RatioBound, runs: readonly BenchResults[]): Finding {
  const { scenario, ratio } = bound
  const limitsOk = [bound.min, bound.max].every((b) => b === undefined || Number.isFinite(b))
  if ((bound.min === undefined && bound.max === undefined) || !limitsOk) {
    return invalid(scenario, ratio, 'config: a ratio bound needs a finite min and/or max')
  }
  const found = lookupAll(runs, scenario, 'ratios', ratio)
  if (!('units' in found)) return found
  const { values } = found
  const misses = values.map((v) => violation(v, bound))
  const missed = misses.filter((m) => m > 0).length
  // Show the run closest to passing: a failure then means even the best run missed.
  const best = misses.indexOf(Math.min(...misses))
  const base = {
    scenario,
    name: ratio,
    kind: 'ratio-floor' as const,
    value: values[best] ?? null,
    limit: boundText(bound),
    values,
  }
  if (missed === values.length) {
    const rerun = values.length === 1 ? ' (single run: not confirmed by a re-run)' : ''
    return { ...base, status: 'fail', detail: `outside the bound in all ${values.length} run(s)${rerun}` }
  }
  if (missed > 0) {
    return { ...base, status: 'pass', detail: `noise: outside the bound in ${missed} of ${values.length} runs only` }
  }
  return { ...base, status: 'pass', detail: '' }
}

/** A figure as a cost (bigger = worse), so both directions compare the same way. */
function cost(value: number, direction: Direction): number {
  return direction === 'lower' ? value : 1 / value
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`
}

/**
 * Compares a metric with the baseline. Each run's figure becomes a cost (normalised by the
 * calibration figure of the same run, when there is one); the change is the slowdown
 * cost/baseline - 1. A change counts only if it exceeds max(tolerance, spread across the runs)
 * in every run: spread is how much the tree disagrees with itself today.
 */
export function checkMetric(
  check: MetricCheck,
  config: GateConfig,
  runs: readonly BenchResults[],
  baseline: BenchResults,
): Finding {
  const { scenario, metric } = check
  const tolerance = check.tolerancePct ?? config.defaultTolerancePct
  if (!Number.isFinite(tolerance) || tolerance < 0)
    return invalid(scenario, metric, `config: tolerance ${tolerance} is not a percentage`)
  const current = lookupAll(runs, scenario, 'metrics', metric)
  if (!('units' in current)) return current
  const base = lookupAll([baseline], scenario, 'metrics', metric, () => 'baseline')
  if (!('units' in base)) return base
  const baseValue = base.values[0] as number
  const unit = base.units[0] as string
  const changedUnit = current.units.find((u) => u !== unit)
  if (changedUnit !== undefined) {
    return invalid(scenario, metric, `unit changed from ${unit} to ${changedUnit}: refresh the baseline`)
  }
  const direction = check.direction ?? directionOf(unit)
  if (direction === undefined)
    return invalid(scenario, metric, `cannot tell the direction of unit "${unit}": set it in the config`)
  if (baseValue <= 0 || current.values.some((v) => v <= 0)) {
    return invalid(scenario, metric, 'values must be > 0 for a relative comparison')
  }

  // Calibration: divide each cost by the same run's calibration cost, so a uniformly slower
  // machine (or a slower hour on a shared one) moves both and cancels out.
  let calibBase = 1
  let calibRuns = current.values.map(() => 1)
  let calibNote = ''
  const cal = config.calibration
  if (cal !== undefined) {
    const c = lookupAll(runs, cal.scenario, 'metrics', cal.metric)
    if (!('units' in c)) return { ...c, name: `${metric} (calibration ${cal.metric})`, scenario }
    const cb = lookupAll([baseline], cal.scenario, 'metrics', cal.metric, () => 'baseline')
    if (!('units' in cb)) return { ...cb, name: `${metric} (calibration ${cal.metric})`, scenario }
    const calDir = cal.direction ?? directionOf(cb.units[0] as string)
    if (calDir === undefined)
      return invalid(scenario, metric, `calibration unit "${cb.units[0]}" has no direction: set it`)
    if ([...c.values, ...cb.values].some((v) => v <= 0))
      return invalid(scenario, metric, 'calibration values must be > 0')
    calibBase = cost(cb.values[0] as number, calDir)
    calibRuns = c.values.map((v) => cost(v, calDir))
    calibNote = ` (normalised by ${cal.scenario}/${cal.metric})`
  }

  const baseCost = cost(baseValue, direction) / calibBase
  const costs = current.values.map((v, i) => cost(v, direction) / (calibRuns[i] as number))
  const changes = costs.map((c) => (c / baseCost - 1) * 100)
  const spread = costs.length > 1 ? ((Math.max(...costs) - Math.min(...costs)) / Math.min(...costs)) * 100 : 0
  const threshold = Math.max(tolerance, spread)
  const least = changes.indexOf(Math.min(...changes))
  const leastChange = changes[least] as number
  const finding = {
    scenario,
    name: metric,
    kind: 'baseline' as const,
    value: current.values[least] ?? null,
    limit: `<= +${threshold.toFixed(1)}% vs ${format(baseValue)} ${unit}`,
    changePct: leastChange,
    values: current.values,
  }
  const why = `tolerance ${tolerance}%, spread ${spread.toFixed(1)}%${calibNote}`
  if (changes.every((c) => c > threshold)) {
    const rerun = changes.length === 1 ? '; single run: not confirmed by a re-run' : ''
    return { ...finding, status: 'fail', detail: `worse by ${changes.map(pct).join(', ')} (${why}${rerun})` }
  }
  if (changes.some((c) => c > threshold)) {
    return {
      ...finding,
      status: 'pass',
      detail: `noise: worse beyond threshold in some runs only (${changes.map(pct).join(', ')}; ${why})`,
    }
  }
  if (changes.every((c) => c < -threshold)) {
    return {
      ...finding,
      status: 'pass',
      detail: `improved by ${changes.map(pct).join(', ')}: consider refreshing the baseline`,
    }
  }
  return { ...finding, status: 'pass', detail: `within ${why}` }
}

function format(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)
}

/** Every non-finite figure of a run: a NaN anywhere means a task errored, even if not gated. */
function nonFinite(run: BenchResults, label: string): Finding[] {
  const out: Finding[] = []
  for (const s of run.scenarios) {
    for (const kind of ['metrics', 'ratios'] as const) {
      for (const [name, figure] of Object.entries(s[kind] as Record<string, { value: number | null }>)) {
        if (figure.value === null || !Number.isFinite(figure.value)) {
          out.push(invalid(s.scenario, name, `${label}: value is ${figure.value} (an errored or broken measurement)`))
        }
      }
    }
  }
  return out
}

/**
 * The gate's verdict. `runs` are one or more results of the same tree (two let the re-run rule
 * tell noise from a regression); `baseline`, when given, is the committed reference results.
 * Inputs are `unknown` because they come from files: the shape is checked here, not trusted.
 */
export function decide(config: GateConfig, runs: readonly unknown[], baseline?: unknown): Verdict {
  const findings: Finding[] = []
  if (config.ratios.length === 0 && config.metrics.length === 0) {
    findings.push(invalid('*', 'config', 'the gate config checks nothing'))
  }
  if (runs.length === 0) findings.push(invalid('*', 'runs', 'no results to check'))
  const valid: BenchResults[] = []
  for (const [i, raw] of runs.entries()) {
    const { results, problems } = validateResults(raw, `run ${i + 1}`)
    findings.push(...problems)
    if (results !== undefined) {
      valid.push(results)
      findings.push(...nonFinite(results, `run ${i + 1}`))
    }
  }
  // A malformed run already fails the verdict; checking the rest still shows what else moved.
  if (valid.length > 0) {
    for (const bound of config.ratios) findings.push(checkRatio(bound, valid))
    if (baseline !== undefined) {
      const { results: base, problems } = validateResults(baseline, 'baseline')
      findings.push(...problems)
      if (base !== undefined) for (const check of config.metrics) findings.push(checkMetric(check, config, valid, base))
    }
  }
  return {
    pass: findings.length > 0 && findings.every((f) => f.status === 'pass'),
    findings,
    baselineChecked: baseline !== undefined,
  }
}
