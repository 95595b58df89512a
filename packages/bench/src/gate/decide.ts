// The bench gate's decision logic: pure functions from (config, runs, baseline?) to findings.
// Everything here fails closed: a figure that cannot be found, read or compared is a failing
// finding, never a silent pass (a gate that exits 0 on a parse failure is no gate at all).
import type { BenchResults } from '../report.ts'
import type { Better, Metric, Ratio } from '../scenario.ts'

/** A floor and/or ceiling on a ratio measured inside one run (an in-run baseline). */
export interface RatioBound {
  readonly scenario: string
  readonly ratio: string
  readonly min?: number
  readonly max?: number
  /** Why this bound: the goal it guards and the figure it had when it was set. */
  readonly why?: string
}

/** A metric compared against a baseline (the committed one, or the base revision's runs). */
export interface MetricCheck {
  readonly scenario: string
  readonly metric: string
  /** Smallest change that counts, in percent; defaults to the config's defaultTolerancePct. */
  readonly tolerancePct?: number
  /**
   * A metric of the `calibration` scenario to divide by (both as costs), so a machine that is
   * uniformly slower at that kind of work (CPU, fsync) does not read as a regression.
   */
  readonly calibration?: string
  /** Why this tolerance: the spread measured on an unchanged tree. */
  readonly why?: string
}

export interface GateConfig {
  readonly ratios: readonly RatioBound[]
  readonly metrics: readonly MetricCheck[]
  readonly defaultTolerancePct: number
  /**
   * The tolerance of every metric in an A/B run (`--base`), where both sides share the machine
   * and the hour: the committed tolerances also absorb a different machine and a stale
   * baseline, which A/B does not need to. The spread rule still applies.
   */
  readonly abTolerancePct: number
}

/** The scenario holding the calibration tasks the metric checks normalise by. */
export const CALIBRATION_SCENARIO = 'calibration'

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
    // Two entries for one scenario (or one figure) make every lookup ambiguous.
    if (seen.has(name)) bad(name, 'scenario appears more than once')
    seen.add(name)
    if (s.error !== undefined) bad(name, `the scenario errored: ${String(s.error)}`)
    for (const field of ['metrics', 'ratios'] as const) {
      const figures = s[field]
      if (!Array.isArray(figures)) {
        bad(name, `${field} is not an array`)
        continue
      }
      const names = new Set<string>()
      figures.forEach((figure: unknown, j: number) => {
        const where = `${field}[${j}]`
        if (!isRecord(figure) || typeof figure.name !== 'string' || figure.name === '') {
          bad(name, `${where} has no name`)
          return
        }
        if (names.has(figure.name)) bad(name, `${field} ${figure.name} appears more than once`)
        names.add(figure.name)
        if (!(typeof figure.value === 'number' || figure.value === null)) {
          bad(name, `${field} ${figure.name} has no numeric value`)
        } else if (field === 'metrics' && typeof figure.unit !== 'string') {
          bad(name, `metrics ${figure.name} has no unit`)
        } else if (field === 'metrics' && figure.better !== 'lower' && figure.better !== 'higher') {
          bad(name, `metrics ${figure.name}: better must be "lower" or "higher"`)
        }
      })
    }
  })
  return problems.length > 0 ? { problems } : { results: raw as unknown as BenchResults, problems }
}

interface Figure {
  readonly value: number
  readonly unit: string
  readonly better: Better | undefined
}

type Lookup = { readonly found: true; readonly figure: Figure } | { readonly found: false; readonly why: string }

function lookup(results: BenchResults, scenario: string, kind: 'metrics' | 'ratios', name: string): Lookup {
  const s = results.scenarios.find((r) => r.scenario === scenario)
  if (s === undefined) return { found: false, why: `scenario ${scenario} not in results` }
  const figures: readonly (Metric | Ratio)[] = s[kind]
  const figure = figures.find((f) => f.name === name)
  if (figure === undefined)
    return { found: false, why: `${kind === 'metrics' ? 'metric' : 'ratio'} ${name} not in ${scenario}` }
  const metric = 'unit' in figure ? figure : undefined
  // null is how JSON carries NaN/Infinity; keep it as NaN so the finite check catches it.
  return {
    found: true,
    figure: { value: figure.value ?? Number.NaN, unit: metric?.unit ?? '', better: metric?.better },
  }
}

/** Looks a figure up in every run; a failing finding if any run lacks it or has it non-finite. */
function lookupAll(
  runs: readonly BenchResults[],
  scenario: string,
  kind: 'metrics' | 'ratios',
  name: string,
  label: string,
): Figure[] | Finding {
  const figures: Figure[] = []
  for (const [i, run] of runs.entries()) {
    const l = lookup(run, scenario, kind, name)
    const which = `${label} ${i + 1}`
    if (!l.found)
      return { scenario, name, kind: 'missing', status: 'fail', value: null, limit: '', detail: `${which}: ${l.why}` }
    if (!Number.isFinite(l.figure.value)) {
      return invalid(scenario, name, `${which}: value is ${l.figure.value} (an errored or broken measurement)`)
    }
    figures.push(l.figure)
  }
  return figures
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
  const found = lookupAll(runs, scenario, 'ratios', ratio, 'run')
  if (!Array.isArray(found)) return found
  const values = found.map((f) => f.value)
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
function cost(figure: Figure): number {
  return figure.better === 'higher' ? 1 / figure.value : figure.value
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** (max - min) / min in percent: how much a set of runs of one tree disagrees with itself. */
function spreadPct(costs: readonly number[]): number {
  return costs.length > 1 ? ((Math.max(...costs) - Math.min(...costs)) / Math.min(...costs)) * 100 : 0
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`
}

/** Each run's costs for a metric, divided by that run's calibration cost when the check names one. */
function calibratedCosts(
  check: MetricCheck,
  runs: readonly BenchResults[],
  label: string,
): { figures: Figure[]; costs: number[] } | Finding {
  const { scenario, metric } = check
  const figures = lookupAll(runs, scenario, 'metrics', metric, label)
  if (!Array.isArray(figures)) return figures
  if (figures.some((f) => f.value <= 0)) return invalid(scenario, metric, `${label}: values must be > 0`)
  if (check.calibration === undefined) return { figures, costs: figures.map(cost) }
  const calibration = lookupAll(runs, CALIBRATION_SCENARIO, 'metrics', check.calibration, label)
  if (!Array.isArray(calibration)) return { ...calibration, scenario, name: `${metric} (calibration)` }
  if (calibration.some((f) => f.value <= 0))
    return invalid(scenario, metric, `${label}: calibration ${check.calibration} must be > 0`)
  return { figures, costs: figures.map((f, i) => cost(f) / cost(calibration[i] as Figure)) }
}

/**
 * Compares a metric with the baseline runs (the committed baseline, or the base revision's
 * runs in an A/B). Figures become costs, normalised by a calibration task of the same run when
 * the check names one; the change of a run is its cost over the baseline's median cost, minus 1.
 * A change counts only if it exceeds max(tolerance, spread) in every run, spread being how much
 * the runs of one side disagree with each other today: a regression must be bigger than the
 * noise and survive the re-run.
 */
export function checkMetric(
  check: MetricCheck,
  config: GateConfig,
  runs: readonly BenchResults[],
  baselines: readonly BenchResults[],
): Finding {
  const { scenario, metric } = check
  const tolerance = check.tolerancePct ?? config.defaultTolerancePct
  if (!Number.isFinite(tolerance) || tolerance < 0)
    return invalid(scenario, metric, `config: tolerance ${tolerance} is not a percentage`)
  const current = calibratedCosts(check, runs, 'run')
  if (!('costs' in current)) return current
  const base = calibratedCosts(check, baselines, 'baseline')
  if (!('costs' in base)) return base
  const { unit, better } = base.figures[0] as Figure
  const changed = current.figures.find((f) => f.unit !== unit || f.better !== better)
  if (changed !== undefined) {
    return invalid(scenario, metric, `unit changed from ${unit} (${better}) to ${changed.unit} (${changed.better})`)
  }
  const baseCost = median(base.costs)
  const changes = current.costs.map((c) => (c / baseCost - 1) * 100)
  const spread = Math.max(spreadPct(current.costs), spreadPct(base.costs))
  const threshold = Math.max(tolerance, spread)
  const least = changes.indexOf(Math.min(...changes))
  const leastChange = changes[least] as number
  const baseValue = median(base.figures.map((f) => f.value))
  const finding = {
    scenario,
    name: metric,
    kind: 'baseline' as const,
    value: current.figures[least]?.value ?? null,
    limit: `<= +${threshold.toFixed(1)}% vs ${format(baseValue)} ${unit}`,
    changePct: leastChange,
    values: current.figures.map((f) => f.value),
  }
  const calibrated = check.calibration === undefined ? '' : `, per ${check.calibration}`
  const why = `tolerance ${tolerance}%, spread ${spread.toFixed(1)}%${calibrated}`
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
    for (const figure of [...s.metrics, ...s.ratios]) {
      const value: number | null = figure.value
      if (value === null || !Number.isFinite(value)) {
        out.push(invalid(s.scenario, figure.name, `${label}: value is ${value} (an errored or broken measurement)`))
      }
    }
  }
  return out
}

/** Validates every file of one side (runs or baselines); its findings are the problems found. */
function validateAll(raws: readonly unknown[], label: string, findings: Finding[]): BenchResults[] {
  const valid: BenchResults[] = []
  for (const [i, raw] of raws.entries()) {
    const { results, problems } = validateResults(raw, `${label} ${i + 1}`)
    findings.push(...problems)
    if (results !== undefined) {
      valid.push(results)
      findings.push(...nonFinite(results, `${label} ${i + 1}`))
    }
  }
  return valid
}

/**
 * The gate's verdict. `runs` are one or more results of the tree under test (two let the re-run
 * rule tell noise from a regression); `baselines`, when given, are the committed baseline or the
 * base revision's runs. Inputs are `unknown` because they come from files: the shape is checked
 * here, not trusted.
 */
export function decide(config: GateConfig, runs: readonly unknown[], baselines?: readonly unknown[]): Verdict {
  const findings: Finding[] = []
  if (config.ratios.length === 0 && config.metrics.length === 0) {
    findings.push(invalid('*', 'config', 'the gate config checks nothing'))
  }
  if (runs.length === 0) findings.push(invalid('*', 'runs', 'no results to check'))
  if (baselines !== undefined && baselines.length === 0) findings.push(invalid('*', 'baseline', 'no baseline results'))
  const valid = validateAll(runs, 'run', findings)
  const base = baselines === undefined ? [] : validateAll(baselines, 'baseline', findings)
  // A malformed file already fails the verdict; checking the rest still shows what else moved.
  if (valid.length > 0) {
    for (const bound of config.ratios) findings.push(checkRatio(bound, valid))
    if (base.length > 0) for (const check of config.metrics) findings.push(checkMetric(check, config, valid, base))
  }
  return {
    pass: findings.length > 0 && findings.every((f) => f.status === 'pass'),
    findings,
    baselineChecked: baselines !== undefined,
  }
}
