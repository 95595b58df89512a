// A child process for tests that damage a catalog: `catalog-cursors.ts <dir> [--garble <pgno>]
// <table>...`. Opens the store (inline runtime, one partition) and lists its shapes; with
// --garble, then garbles the key sizes of catalog leaf <pgno> while the engine has it open
// (overrunKeySizes) and lists them again; then creates a shape of each table. Prints one JSON
// line of outcomes: `listed <n>`, `created`, `found`, `corrupt` (STORAGE_CORRUPT), or the error.
// Run apart so that a native crash shows as a signal instead of ending the test run.
import { join } from 'node:path'
import { EngineError, ErrorCode, openEngine } from '../../src/index.ts'
import { overrunKeySizes } from './overrun-keys.ts'

const [dir, ...rest] = process.argv.slice(2) as [string, ...string[]]
const garble = rest[0] === '--garble' ? Number(rest[1]) : undefined
const tables = garble === undefined ? rest : rest.slice(2)
const engine = await openEngine({ dir, partitions: 1 })
const outcomes: string[] = []
const attempt = async (read: () => Promise<string>) => {
  try {
    outcomes.push(await read())
  } catch (error) {
    const corrupt = error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT
    outcomes.push(corrupt ? 'corrupt' : String(error))
  }
}
const list = () => attempt(async () => `listed ${[...engine.listShapes()].length}`)
await list()
if (garble !== undefined) {
  overrunKeySizes(join(dir, 'catalog', 'data.mdb'), garble)
  await list()
}
for (const table of tables) {
  await attempt(async () => ((await engine.getOrCreateShape({ table })).created ? 'created' : 'found'))
}
await engine.close()
console.log(JSON.stringify(outcomes))
