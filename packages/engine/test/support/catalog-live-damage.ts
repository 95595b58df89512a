// A child process for a test that damages a catalog while the engine has it open:
// `catalog-live-damage.ts <dir> <leaf pgno> <table>`. Opens the store (inline runtime, one
// partition), lists its shapes, garbles the key sizes of the catalog leaf (overrunKeySizes), then
// lists again and creates a shape of `table`; prints one JSON line of outcomes: `listed <n>`,
// `created`, `corrupt` (STORAGE_CORRUPT), or the error. Run apart so that a native crash shows
// as a signal instead of ending the test run.
import { join } from 'node:path'
import { EngineError, ErrorCode, openEngine } from '../../src/index.ts'
import { overrunKeySizes } from './overrun-keys.ts'

const [dir, pgno, table] = process.argv.slice(2) as [string, string, string]
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
await attempt(async () => `listed ${[...engine.listShapes()].length}`)
overrunKeySizes(join(dir, 'catalog', 'data.mdb'), Number(pgno))
await attempt(async () => `listed ${[...engine.listShapes()].length}`)
await attempt(async () => ((await engine.getOrCreateShape({ table })).created ? 'created' : 'found'))
await engine.close()
console.log(JSON.stringify(outcomes))
