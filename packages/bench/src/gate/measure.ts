// One measurement of the gate suite: every scenario in order, in this process. A scenario that
// throws is recorded with its error (and no figures), so the verdict fails closed on it and the
// other scenarios still report what moved.
import { type BenchResults, collectResults, printResult } from '../report.ts'
import type { ScenarioContext, ScenarioResult } from '../scenario.ts'
import { SCENARIOS } from '../suite.ts'

/**
 * The gate suite: calibration first (it measures the machine the rest runs on), then the
 * scenarios whose figures the gate checks. shape-creation is left out: 40 s of the standard
 * suite's time for a figure append-throughput and write-fanout already guard.
 */
export const GATE_SUITE: readonly string[] = [
  'calibration',
  'cold-restore',
  'read-path',
  'append-throughput',
  'write-fanout',
  'live-fanout',
  'log-read',
  'unrelated-shapes',
]

export async function measureScenarios(names: readonly string[], context: ScenarioContext): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = []
  for (const name of names) {
    const scenario = SCENARIOS[name]
    try {
      if (scenario === undefined) throw new Error(`unknown scenario ${name}`)
      const result = await scenario(context)
      printResult(result)
      results.push(result)
    } catch (error) {
      console.error(`${name} errored:`, error)
      results.push({ scenario: name, parameters: {}, metrics: [], ratios: [], error: String(error) })
    }
  }
  return results
}

export async function measureGateSuite(context: ScenarioContext): Promise<BenchResults> {
  return collectResults(await measureScenarios(GATE_SUITE, context))
}

/** `run` with the named scenarios measured again (the re-run of what failed). */
export async function remeasure(
  run: BenchResults,
  names: readonly string[],
  context: ScenarioContext,
): Promise<BenchResults> {
  const fresh = await measureScenarios(names, context)
  const byName = new Map(fresh.map((s) => [s.scenario, s]))
  return collectResults(run.scenarios.map((s) => byName.get(s.scenario) ?? s))
}
