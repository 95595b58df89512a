// The scenarios by name, and running a list of them: shared by `pnpm bench` and the gate.
import { performance } from 'node:perf_hooks'
import { printResult } from './report.ts'
import type { ScenarioContext, ScenarioResult } from './scenario.ts'
import { appendThroughput } from './scenarios/append-throughput.ts'
import { coldRestore } from './scenarios/cold-restore.ts'
import { liveFanout } from './scenarios/live-fanout.ts'
import { logRead } from './scenarios/log-read.ts'
import { pgE2e } from './scenarios/pg-e2e.ts'
import { readPath } from './scenarios/read-path.ts'
import { scale } from './scenarios/scale.ts'
import { shapeCreation } from './scenarios/shape-creation.ts'
import { streamsVsReference } from './scenarios/streams-vs-reference.ts'
import { unrelatedShapes } from './scenarios/unrelated-shapes.ts'
import { writeFanout } from './scenarios/write-fanout.ts'
import { writeFanoutHttp } from './scenarios/write-fanout-http.ts'

export type Scenario = (context: ScenarioContext) => Promise<ScenarioResult>

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  'cold-restore': coldRestore,
  'read-path': readPath,
  'append-throughput': appendThroughput,
  'write-fanout': writeFanout,
  'live-fanout': liveFanout,
  'log-read': logRead,
  'unrelated-shapes': unrelatedShapes,
  'shape-creation': shapeCreation,
  // By name only, not in the standard suite: two extra processes and up to 2,000 HTTP clients (minutes).
  'write-fanout-http': writeFanoutHttp,
  // By name only: seeds 1,110,000 shapes the first time (minutes, about 2 GB).
  scale,
  // By name only: this repository's Durable Streams server against the official one (minutes).
  'streams-vs-reference': streamsVsReference,
  // By name only: Postgres -> the Electric example (--pg) -> clients; starts PostgreSQL (minutes).
  'pg-e2e': pgE2e,
}

/** The standard suite, in order: what `pnpm bench` runs with no scenario named. */
export const STANDARD_SUITE: readonly string[] = [
  'cold-restore',
  'read-path',
  'append-throughput',
  'write-fanout',
  'live-fanout',
  'log-read',
  'unrelated-shapes',
  'shape-creation',
]

/** The names among `names` that are not scenarios. */
export function unknownScenarios(names: readonly string[]): string[] {
  return names.filter((name) => !Object.hasOwn(SCENARIOS, name))
}

/**
 * Runs the scenarios in order, printing each one's table as it completes. A scenario that throws
 * is recorded with its error (and no figures) and the rest still run: the gate fails closed on
 * it, and `pnpm bench` exits non-zero after writing what it measured.
 */
export async function runScenarios(names: readonly string[], context: ScenarioContext): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = []
  for (const name of names) {
    const start = performance.now()
    try {
      const scenario = SCENARIOS[name]
      if (scenario === undefined) throw new Error(`unknown scenario ${name}`)
      const result = await scenario(context)
      printResult(result)
      results.push(result)
    } catch (error) {
      console.error(`${name} errored:`, error)
      results.push({ scenario: name, parameters: {}, metrics: [], ratios: [], error: String(error) })
    }
    console.log(`${name} took ${((performance.now() - start) / 1000).toFixed(1)} s`)
  }
  return results
}
