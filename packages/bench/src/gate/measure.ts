import type { BenchResults } from '../report.ts'
import { collectResults } from '../report.ts'
import type { ScenarioContext } from '../scenario.ts'
import { runScenarios, STANDARD_SUITE } from '../suite.ts'

/**
 * The gate suite: calibration first (it measures the machine the rest runs on), then the
 * standard suite but shape-creation: 40 s of the standard suite's time for figures that
 * append-throughput and write-fanout already guard.
 */
export const GATE_SUITE: readonly string[] = [
  'calibration',
  ...STANDARD_SUITE.filter((name) => name !== 'shape-creation'),
]

/** `run` with the named scenarios measured again (the re-run of what failed). */
export async function remeasure(
  run: BenchResults,
  names: readonly string[],
  context: ScenarioContext,
): Promise<BenchResults> {
  const fresh = await runScenarios(names, context)
  const byName = new Map(fresh.map((s) => [s.scenario, s]))
  return collectResults(run.scenarios.map((s) => byName.get(s.scenario) ?? s))
}
