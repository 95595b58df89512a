// One probe in this (fresh) process: `probe-cli.ts <probe|seed> --root <checkout> --data <dir>`.
// Prints the result as one JSON line on stdout. A fresh process per probe, so no probe's JIT
// state, heap or threads touch another's, and the spread between processes is in the samples.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadEngine } from './engine-lib.ts'
import { PROBES, seed } from './probes.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { root: { type: 'string' }, data: { type: 'string' } },
})
const [name] = positionals
if (name === undefined || values.root === undefined || values.data === undefined) {
  console.error('usage: probe-cli.ts <probe|seed> --root <checkout> --data <dir>')
  process.exit(2)
}
const lib = await loadEngine(values.root)
const seedDir = join(values.data, 'seed')
if (name === 'seed') {
  await seed(lib, seedDir)
  process.exit(0)
}
const probe = PROBES[name]
if (probe === undefined) {
  console.error(`unknown probe ${name} (${Object.keys(PROBES).join(', ')})`)
  process.exit(2)
}
const result = await probe({ lib, seedDir, scratchDir: join(values.data, 'scratch') })
console.log(JSON.stringify(result))
