// `pnpm bench [scenario] [--shapes N] [--json FILE] [--data DIR] [--results DIR]`
// Seeds what it needs (reusing a valid seed), runs the scenarios, prints a table per scenario
// and writes results.json and report.md into the results directory.
import { parseArgs } from 'node:util'
import { defaultDataDir, defaultResultsDir } from './paths.ts'
import { collectResults, printResult, writeResults } from './report.ts'
import type { ScenarioContext, ScenarioResult } from './scenario.ts'
import { appendThroughput } from './scenarios/append-throughput.ts'
import { coldRestore } from './scenarios/cold-restore.ts'
import { liveFanout } from './scenarios/live-fanout.ts'
import { logRead } from './scenarios/log-read.ts'
import { readPath } from './scenarios/read-path.ts'
import { shapeCreation } from './scenarios/shape-creation.ts'
import { unrelatedShapes } from './scenarios/unrelated-shapes.ts'
import { writeFanout } from './scenarios/write-fanout.ts'
import { writeFanoutHttp } from './scenarios/write-fanout-http.ts'

const SCENARIOS: Record<string, (context: ScenarioContext) => Promise<ScenarioResult>> = {
  'cold-restore': coldRestore,
  'read-path': readPath,
  'append-throughput': appendThroughput,
  'write-fanout': writeFanout,
  'live-fanout': liveFanout,
  'log-read': logRead,
  'unrelated-shapes': unrelatedShapes,
  'shape-creation': shapeCreation,
  // Not in the standard suite: it runs two extra processes and thousands of HTTP clients (minutes).
  'write-fanout-http': writeFanoutHttp,
}
/** The standard suite, in order: what `pnpm bench` runs with no scenario named. */
const STANDARD_SUITE = [
  'cold-restore',
  'read-path',
  'append-throughput',
  'write-fanout',
  'live-fanout',
  'log-read',
  'unrelated-shapes',
  'shape-creation',
]

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shapes: { type: 'string' },
    json: { type: 'string' },
    data: { type: 'string' },
    results: { type: 'string' },
  },
})

const names = positionals.length > 0 ? positionals : STANDARD_SUITE
for (const name of names) {
  if (!(name in SCENARIOS)) {
    console.error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(SCENARIOS).join(', ')}`)
    process.exit(2)
  }
}
const shapes = values.shapes === undefined ? undefined : Number(values.shapes)
if (shapes !== undefined && (!Number.isSafeInteger(shapes) || shapes < 10)) {
  console.error('--shapes must be an integer >= 10')
  process.exit(2)
}

const context: ScenarioContext = { dataDir: values.data ?? defaultDataDir, shapes }
const results: ScenarioResult[] = []
for (const name of names) {
  const result = await (SCENARIOS[name] as (context: ScenarioContext) => Promise<ScenarioResult>)(context)
  printResult(result)
  results.push(result)
}
const path = writeResults(collectResults(results), values.results ?? defaultResultsDir, values.json)
console.log(`\nwrote ${path}`)
