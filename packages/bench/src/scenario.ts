import { availableParallelism, cpus } from 'node:os'

/** What every scenario gets from the runner. */
export interface ScenarioContext {
  /** Where seeded data lives (reused across runs). */
  readonly dataDir: string
  /** The `--shapes N` override, if given. */
  readonly shapes: number | undefined
}

export interface Metric {
  readonly value: number
  readonly unit: string
  /** The goal from ARCHITECTURE.md, as text, where there is one. */
  readonly goal?: string
}

/** One scenario's figures. Ratios are measured in the same run: a / b, named `a_over_b`. */
export interface ScenarioResult {
  readonly scenario: string
  readonly parameters: Record<string, unknown>
  readonly metrics: Record<string, Metric>
  readonly ratios: Record<string, { readonly value: number; readonly goal?: string }>
  /** Figures over a swept parameter (e.g. ms vs shapes), drawn as one SVG chart per scenario. */
  readonly series?: readonly Series[]
}

/** One line of a scenario's chart: y[i] measured at x[i]. Series of one scenario share their axes. */
export interface Series {
  readonly name: string
  readonly x: readonly number[]
  readonly y: readonly number[]
  readonly xLabel: string
  readonly yLabel: string
}

export interface Machine {
  readonly cpus: number
  readonly cpuModel: string
  readonly node: string
  readonly platform: string
}

export function machine(): Machine {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  }
}
