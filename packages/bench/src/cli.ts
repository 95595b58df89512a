// `pnpm bench [scenario] [--shapes N] [--json FILE] [--data DIR] [--results DIR]`
// Seeds what it needs (reusing a valid seed), runs the scenarios, prints a table per scenario
// and writes results.json and report.md into the results directory.
import { parseArgs } from 'node:util'
import { defaultDataDir, defaultResultsDir } from './paths.ts'
import { collectResults, writeResults } from './report.ts'
import { runScenarios, SCENARIOS, STANDARD_SUITE, unknownScenarios } from './suite.ts'

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
const unknown = unknownScenarios(names)
if (unknown.length > 0) {
  console.error(`unknown scenario ${JSON.stringify(unknown[0])}; known: ${Object.keys(SCENARIOS).join(', ')}`)
  process.exit(2)
}
const shapes = values.shapes === undefined ? undefined : Number(values.shapes)
if (shapes !== undefined && (!Number.isSafeInteger(shapes) || shapes < 10)) {
  console.error('--shapes must be an integer >= 10')
  process.exit(2)
}

const results = await runScenarios(names, { dataDir: values.data ?? defaultDataDir, shapes })
const path = writeResults(collectResults(results), values.results ?? defaultResultsDir, values.json)
console.log(`\nwrote ${path}`)
const errored = results.filter((r) => r.error !== undefined).map((r) => r.scenario)
if (errored.length > 0) {
  console.error(`errored: ${errored.join(', ')}`)
  process.exitCode = 1
}
