import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeCharts } from './charts.ts'
import { type Machine, machine, type ScenarioResult } from './scenario.ts'

/** The machine-readable results of one `pnpm bench` run. */
export interface BenchResults {
  readonly generatedAt: string
  readonly machine: Machine
  readonly scenarios: readonly ScenarioResult[]
}

export function collectResults(scenarios: readonly ScenarioResult[]): BenchResults {
  return { generatedAt: new Date().toISOString(), machine: machine(), scenarios }
}

/** Whether `value` meets a goal written as `<= x` or `>= x`; undefined without a goal. */
export function meetsGoal(value: number, goal: string | undefined): boolean | undefined {
  const match = goal === undefined ? null : /^(<=|>=)\s*([\d.]+)$/.exec(goal)
  if (match === null) return undefined
  const bound = Number(match[2])
  return match[1] === '<=' ? value <= bound : value >= bound
}

function rows(result: ScenarioResult): Array<{ name: string; value: string; unit: string; goal: string }> {
  const verdict = (value: number, goal: string | undefined) => {
    const met = meetsGoal(value, goal)
    return goal === undefined ? '' : `${goal} ${met ? 'met' : 'MISSED'}`
  }
  return [
    ...result.metrics.map((m) => ({
      name: m.name,
      value: format(m.value),
      unit: m.unit,
      goal: verdict(m.value, m.goal),
    })),
    ...result.ratios.map((r) => ({
      name: r.name,
      value: format(r.value),
      unit: 'ratio',
      goal: verdict(r.value, r.goal),
    })),
  ]
}

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3)
}

export function printResult(result: ScenarioResult): void {
  console.log(`\n${result.scenario}  ${JSON.stringify(result.parameters)}`)
  console.table(rows(result))
}

export function writeResults(results: BenchResults, resultsDir: string, jsonFile?: string): string {
  mkdirSync(resultsDir, { recursive: true })
  const jsonPath = jsonFile ?? join(resultsDir, 'results.json')
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`)
  const m = results.machine
  const lines = [
    '# shapestore benchmark report',
    '',
    `${results.generatedAt} · ${m.cpus} CPUs (${m.cpuModel}) · Node ${m.node} · ${m.platform}`,
    '',
  ]
  const charts = writeCharts(results.scenarios, resultsDir)
  for (const result of results.scenarios) {
    if (result.error !== undefined) {
      lines.push(`## ${result.scenario}`, '', `**Errored:** ${result.error}`, '')
      continue
    }
    lines.push(`## ${result.scenario}`, '', `Parameters: \`${JSON.stringify(result.parameters)}\``, '')
    for (const chart of charts.get(result.scenario) ?? []) lines.push(`![${result.scenario}](${chart})`, '')
    lines.push('| metric | value | unit | goal |', '|---|---|---|---|')
    for (const row of rows(result)) lines.push(`| ${row.name} | ${row.value} | ${row.unit} | ${row.goal} |`)
    lines.push('')
  }
  writeFileSync(join(resultsDir, 'report.md'), lines.join('\n'))
  return jsonPath
}
