// `pnpm bench:gate`: the CI performance regression gate.
//
//   pnpm bench:gate                  the gate suite against the committed baseline (gate/baseline.json);
//                                    what fails is measured again once, and fails only if it fails again
//   pnpm bench:gate --base <ref>     A/B: the base revision in a temporary worktree, both measured
//                                    --runs times (default 2), interleaved
//   pnpm bench:gate --once --json F  measure the gate suite once and write F (no verdict)
//   pnpm bench:gate --record N       measure N times in fresh processes; write the baseline (per-figure
//                                    medians) and print each gated figure's spread, to set tolerances
//   pnpm bench:gate --judge RUN.json [RUN2.json] [--baseline B.json]   judge files already written
//   --only a,b                       measure and check only these scenarios (with any of the modes above)
//
// Exit 0 only on a passing verdict; 1 on a regression or anything that could not be measured,
// read or compared (fail closed); 2 on bad arguments.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { defaultDataDir, defaultResultsDir } from '../paths.ts'
import { type BenchResults, collectResults } from '../report.ts'
import type { ScenarioContext } from '../scenario.ts'
import { runScenarios } from '../suite.ts'
import { abRuns } from './ab.ts'
import { gateConfig as committedConfig } from './config.ts'
import { CALIBRATION_SCENARIO, decide, type Finding, type GateConfig, invalid, type Verdict } from './decide.ts'
import { GATE_SUITE, remeasure } from './measure.ts'
import { medianResults, spreadReport } from './record.ts'
import { renderTable } from './table.ts'

const baselinePath = fileURLToPath(new URL('../../gate/baseline.json', import.meta.url))

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    base: { type: 'string' },
    runs: { type: 'string', default: '2' },
    once: { type: 'boolean', default: false },
    json: { type: 'string' },
    record: { type: 'string' },
    judge: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    data: { type: 'string' },
    results: { type: 'string' },
    only: { type: 'string' },
  },
})

function usage(message: string): never {
  console.error(`bench:gate: ${message}`)
  process.exit(2)
}

const suite = values.only === undefined ? GATE_SUITE : values.only.split(',')
const unknown = suite.filter((name) => !GATE_SUITE.includes(name))
if (unknown.length > 0) usage(`--only: ${unknown.join(', ')} not in the gate suite (${GATE_SUITE.join(', ')})`)
// Checks of scenarios left out by --only are left out too (the calibration is always measured).
const measured = [...new Set([CALIBRATION_SCENARIO, ...suite])]
const gateConfig: GateConfig = {
  ...committedConfig,
  ratios: committedConfig.ratios.filter((r) => measured.includes(r.scenario)),
  metrics: committedConfig.metrics.filter((m) => measured.includes(m.scenario)),
}

const context: ScenarioContext = { dataDir: values.data ?? defaultDataDir, shapes: undefined }
const resultsDir = join(values.results ?? defaultResultsDir, 'gate')
mkdirSync(resultsDir, { recursive: true })

function write(path: string, results: BenchResults): void {
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`)
}

/** Reads a results file; an unreadable one becomes a failing finding. */
function readResults(path: string, problems: Finding[]): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    problems.push(invalid('*', path, `unreadable results: ${(error as Error).message}`))
    return undefined
  }
}

function report(verdict: Verdict, problems: readonly Finding[] = []): never {
  const all = {
    ...verdict,
    findings: [...problems, ...verdict.findings],
    pass: verdict.pass && problems.length === 0,
  }
  console.log(`\n${renderTable(all)}`)
  process.exit(all.pass ? 0 : 1)
}

/** The scenarios to measure again: those with a failing comparison, plus the calibration they use. */
function toRemeasure(verdict: Verdict): string[] {
  const names = new Set<string>()
  for (const f of verdict.findings) {
    if (f.status !== 'fail' || (f.kind !== 'ratio-floor' && f.kind !== 'baseline')) continue
    names.add(f.scenario)
    const check = gateConfig.metrics.find((c) => c.scenario === f.scenario && c.metric === f.name)
    if (check?.calibration !== undefined) names.add(CALIBRATION_SCENARIO)
  }
  return [...names]
}

/** Whether every failure is a comparison (a re-run may clear it), not a broken measurement. */
function onlyComparisonsFailed(verdict: Verdict): boolean {
  return verdict.findings.every((f) => f.status === 'pass' || f.kind === 'ratio-floor' || f.kind === 'baseline')
}

try {
  if (values.once) {
    if (values.json === undefined) usage('--once needs --json FILE')
    write(values.json, collectResults(await runScenarios(measured, context)))
    process.exit(0)
  }

  if (values.record !== undefined) {
    const n = Number(values.record)
    if (!Number.isSafeInteger(n) || n < 3) usage('--record needs a number of runs >= 3')
    const runs: BenchResults[] = []
    for (let i = 0; i < n; i++) {
      const json = join(resultsDir, `record-${i + 1}.json`)
      const self = fileURLToPath(import.meta.url)
      const args = ['--import', 'tsx', self, '--once', '--json', json, '--data', context.dataDir]
      const run = spawnSync(process.execPath, values.only === undefined ? args : [...args, '--only', values.only], {
        stdio: 'inherit',
      })
      if (run.status !== 0) throw new Error(`run ${i + 1} exited with ${run.status ?? run.signal}`)
      runs.push(JSON.parse(readFileSync(json, 'utf8')) as BenchResults)
    }
    const baseline = medianResults(runs)
    write(values.json ?? baselinePath, baseline)
    console.log(`\n${spreadReport(gateConfig, runs)}\n\nwrote ${values.json ?? baselinePath}`)
    process.exit(0)
  }

  if (values.judge) {
    if (positionals.length === 0) usage('--judge needs one or more results files')
    const problems: Finding[] = []
    const runs = positionals.map((p) => readResults(p, problems))
    const baseline = values.baseline === undefined ? undefined : [readResults(values.baseline, problems)]
    report(decide(gateConfig, runs, baseline), problems)
  }

  if (values.base !== undefined) {
    const runs = Number(values.runs)
    if (!Number.isSafeInteger(runs) || runs < 2) usage('--runs must be an integer >= 2 (a re-run is part of the rule)')
    const ab = abRuns({ ref: values.base, runs, resultsDir, dataDir: context.dataDir, only: values.only })
    console.log(`\nA/B against ${values.base} (${ab.baseCommit.slice(0, 10)}): ${runs} interleaved runs per side`)
    const abConfig = {
      ...gateConfig,
      metrics: gateConfig.metrics.map((m) => ({ ...m, tolerancePct: gateConfig.abTolerancePct })),
    }
    report(decide(abConfig, ab.head, ab.base))
  }

  if (positionals.length > 0) usage(`unexpected argument ${positionals[0]}`)
  const problems: Finding[] = []
  const baseline = readResults(baselinePath, problems)
  const first = collectResults(await runScenarios(measured, context))
  write(join(resultsDir, 'run-1.json'), first)
  let verdict = decide(gateConfig, [first], [baseline])
  if (!verdict.pass && problems.length === 0 && onlyComparisonsFailed(verdict)) {
    const names = toRemeasure(verdict)
    console.log(`\nfailed in run 1: measuring ${names.join(', ')} again (a regression must survive a re-run)`)
    const second = await remeasure(first, names, context)
    write(join(resultsDir, 'run-2.json'), second)
    verdict = decide(gateConfig, [first, second], [baseline])
  }
  report(verdict, problems)
} catch (error) {
  // Anything that stops the gate from measuring or comparing is a failure, never a pass.
  console.error(`\nbench:gate: FAIL: ${(error as Error).stack ?? error}`)
  process.exit(1)
}
