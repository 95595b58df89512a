// A child process for tests that damage a catalog: `catalog-cursors.ts <dir> <table>...`. Opens
// the store (inline runtime, one partition), lists its shapes, then creates a shape of each table;
// prints one JSON line of outcomes: `listed <n>`, `created`, `corrupt` (STORAGE_CORRUPT), or the
// error. Run apart so that a native crash shows as a signal instead of ending the test run.
import { EngineError, ErrorCode, openEngine } from '../../src/index.ts'

const [dir, ...tables] = process.argv.slice(2) as [string, ...string[]]
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
for (const table of tables) {
  await attempt(async () => ((await engine.getOrCreateShape({ table })).created ? 'created' : 'found'))
}
await engine.close()
console.log(JSON.stringify(outcomes))
