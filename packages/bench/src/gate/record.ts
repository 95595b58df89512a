// Recording the committed baseline: the gate suite measured several times in fresh processes,
// reduced to the per-figure median, with each gated figure's spread across the runs (raw and
// per its calibration) so the tolerances in config.ts can be set from measurement.
import { type BenchResults, collectResults } from '../report.ts'
import type { Metric, Ratio, ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'
import { CALIBRATION_SCENARIO, type GateConfig } from './decide.ts'

function medianFigures<T extends Metric | Ratio>(all: readonly (readonly T[])[]): T[] {
  const first = all[0] ?? []
  return first.map((figure) => {
    const values = all.map((figures) => figures.find((f) => f.name === figure.name)?.value ?? Number.NaN)
    return { ...figure, value: median(values) }
  })
}

/** Per-figure medians of runs of the same suite (the runs must hold the same scenarios). */
export function medianResults(runs: readonly BenchResults[]): BenchResults {
  const first = runs[0]
  if (first === undefined) throw new Error('no runs to take the median of')
  const scenarios: ScenarioResult[] = first.scenarios.map((s) => {
    const same = runs.map((r) => r.scenarios.find((x) => x.scenario === s.scenario))
    if (same.some((x) => x === undefined || x.error !== undefined)) {
      throw new Error(`scenario ${s.scenario} is missing or errored in a run: not a baseline`)
    }
    const present = same as ScenarioResult[]
    return {
      ...s,
      metrics: medianFigures(present.map((x) => x.metrics)),
      ratios: medianFigures(present.map((x) => x.ratios)),
    }
  })
  return collectResults(scenarios)
}

/** A metric as a cost, as the gate compares it (bigger = worse). */
function cost(run: BenchResults, scenario: string, name: string): number {
  const m = run.scenarios.find((s) => s.scenario === scenario)?.metrics.find((x) => x.name === name)
  if (m === undefined) return Number.NaN
  return m.better === 'higher' ? 1 / m.value : m.value
}

/** Largest deviation of any run from the median, in percent of the median. */
function deviationPct(values: readonly number[]): number {
  const m = median(values)
  return Math.max(...values.map((v) => (Math.abs(v - m) / m) * 100))
}

/** A table of each gated metric's spread over the runs, raw and divided by its calibration. */
export function spreadReport(config: GateConfig, runs: readonly BenchResults[]): string {
  const lines = ['metric | tolerance | raw max dev | calibrated max dev | costs']
  for (const check of config.metrics) {
    const raw = runs.map((r) => cost(r, check.scenario, check.metric))
    const calibration = check.calibration
    const calibrated =
      calibration === undefined
        ? raw
        : raw.map((c, i) => c / cost(runs[i] as BenchResults, CALIBRATION_SCENARIO, calibration))
    const tolerance = check.tolerancePct ?? config.defaultTolerancePct
    lines.push(
      [
        `${check.scenario}/${check.metric}`,
        `${tolerance}%`,
        `${deviationPct(raw).toFixed(1)}%`,
        calibration === undefined ? '-' : `${deviationPct(calibrated).toFixed(1)}% (${calibration})`,
        raw.map((c) => c.toPrecision(3)).join(' '),
      ].join(' | '),
    )
  }
  return lines.join('\n')
}
