// `node --import tsx src/gate/cli.ts RUN.json [RUN2.json] [--baseline BASE.json]`
// Judges result files already written (it runs no benchmark): prints the table and exits 1 on
// a failing verdict. An unreadable file is a failing finding, not a crash that CI might ignore.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { gateConfig } from './config.ts'
import { decide, type Finding, invalid } from './decide.ts'
import { renderTable } from './table.ts'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { baseline: { type: 'string' } } })
const unreadable: Finding[] = []
const read = (path: string): unknown => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    unreadable.push(invalid('*', path, `unreadable results: ${(error as Error).message}`))
    // Undefined stays in the runs list, so decide() also reports the run as malformed.
    return undefined
  }
}
const runs = positionals.map(read)
const baseline = values.baseline === undefined ? undefined : (read(values.baseline) ?? null)
const verdict = decide(gateConfig, runs, baseline)
const all = {
  ...verdict,
  findings: [...unreadable, ...verdict.findings],
  pass: verdict.pass && unreadable.length === 0,
}
console.log(renderTable(all))
process.exit(all.pass ? 0 : 1)
