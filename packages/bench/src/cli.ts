// `pnpm bench [scenario...] [--shapes N] [--json FILE] [--dir DIR] [--results DIR]`
// Seeds what it needs (reusing a valid seed), runs the scenarios, prints a table per scenario
// and writes results.json and report.md into the results directory.
import { commandLine } from '@shapestore/engine/command-line'
import { defaultDataDir, defaultResultsDir } from './paths.ts'
import { collectResults, writeResults } from './report.ts'
import { runScenarios, SCENARIOS, STANDARD_SUITE, unknownScenarios } from './suite.ts'

const USAGE = `usage: pnpm bench [scenario...] [--shapes N] [--dir DIR] [--results DIR] [--json FILE]
  Runs the standard suite (${STANDARD_SUITE.join(', ')}),
  or the scenarios named (also: ${Object.keys(SCENARIOS)
    .filter((name) => !STANDARD_SUITE.includes(name))
    .join(', ')}).
  --shapes N      shapes for cold-restore and read-path (default 50,000)
  --dir DIR       where seeded data lives, reused across runs (default ${defaultDataDir})
  --results DIR   where results.json, report.md and the charts go (default ${defaultResultsDir})
  --json FILE     also write results.json to FILE`

const { values, positionals } = commandLine(USAGE, {
  allowPositionals: true,
  options: {
    shapes: { type: 'string' },
    json: { type: 'string' },
    dir: { type: 'string' },
    results: { type: 'string' },
  },
})

const names = positionals.length > 0 ? positionals : STANDARD_SUITE
const unknown = unknownScenarios(names)
if (unknown.length > 0) {
  console.error(`unknown scenario ${JSON.stringify(unknown[0])}\n\n${USAGE}`)
  process.exit(2)
}
const shapes = values.shapes === undefined ? undefined : Number(values.shapes)
if (shapes !== undefined && (!Number.isSafeInteger(shapes) || shapes < 10)) {
  console.error(`--shapes must be an integer >= 10\n\n${USAGE}`)
  process.exit(2)
}

const results = await runScenarios(names, { dataDir: values.dir ?? defaultDataDir, shapes })
const path = writeResults(collectResults(results), values.results ?? defaultResultsDir, values.json)
console.log(`\nwrote ${path}`)
const errored = results.filter((r) => r.error !== undefined).map((r) => r.scenario)
if (errored.length > 0) {
  console.error(`errored: ${errored.join(', ')}`)
  process.exitCode = 1
}
