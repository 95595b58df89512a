import { availableParallelism, cpus } from 'node:os'

/** What every scenario gets from the runner. */
export interface ScenarioContext {
  /** Where seeded data lives (reused across runs). */
  readonly dataDir: string
  /** The `--shapes N` override, if given. */
  readonly shapes: number | undefined
}

/** Which way is better for a figure. */
export type Better = 'lower' | 'higher'

/** One measured figure, as results.json carries it. */
export interface Metric {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly better: Better
  /** The goal from docs/design/ARCHITECTURE.md, as text (`<= 20`, `>= 1`), where there is one. */
  readonly goal?: string
}

/** A ratio of two figures measured in the same run: a / b, named `a_over_b`. */
export interface Ratio {
  readonly name: string
  readonly value: number
  readonly goal?: string
}

/** One scenario's figures. */
export interface ScenarioResult {
  readonly scenario: string
  readonly parameters: Record<string, unknown>
  readonly metrics: readonly Metric[]
  readonly ratios: readonly Ratio[]
  /** Figures over a swept parameter (e.g. ms vs shapes), drawn as one SVG chart per scenario. */
  readonly series?: readonly Series[]
  /** Set when the scenario threw: it has no figures, and the gate fails on it. */
  readonly error?: string
}

// Units whose direction is known: costs (time, counts of work) are better lower, rates higher.
const LOWER_UNITS = /^(ns|µs|ms|s)(\/[a-z]+)?$|^(reads|envs|appends|MB|B)$/
const HIGHER_UNITS = /\/s$/

/** A metric whose direction follows from its unit; an unknown unit is a programming error. */
export function metric(name: string, value: number, unit: string, goal?: string): Metric {
  const better: Better | undefined = HIGHER_UNITS.test(unit) ? 'higher' : LOWER_UNITS.test(unit) ? 'lower' : undefined
  if (better === undefined) throw new Error(`metric ${name}: say whether unit "${unit}" is better lower or higher`)
  return goal === undefined ? { name, value, unit, better } : { name, value, unit, better, goal }
}

export function ratio(name: string, value: number, goal?: string): Ratio {
  return goal === undefined ? { name, value } : { name, value, goal }
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
