// A child process for tests that damage a store: `read-logs.ts <dir> <handle>...`. Opens the
// store (inline runtime, one partition) and reads each shape's whole log, streamed and as JSON;
// prints one JSON line of outcomes: the rows' count, `corrupt` (STORAGE_CORRUPT), or the error;
// `["refused"]` when open refuses the store with STORAGE_CORRUPT.
// Run apart so that a native crash shows as a signal instead of ending the test run.
import { EngineError, ErrorCode, openEngine } from '../../src/index.ts'

const [dir, ...handles] = process.argv.slice(2) as [string, ...string[]]
const corrupt = (error: unknown) => error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT
let engine: Awaited<ReturnType<typeof openEngine>>
try {
  engine = await openEngine({ dir, partitions: 1 })
} catch (error) {
  if (!corrupt(error)) throw error
  console.log(JSON.stringify(['refused']))
  process.exit(0)
}
const outcomes: string[] = []
for (const handle of handles) {
  for (const read of [
    async () => {
      let rows = 0
      for await (const _ of engine.getLogStream(handle, '-1')) rows++
      return rows
    },
    async () => (JSON.parse((await engine.getLogJson(handle, '-1')).toString()) as unknown[]).length,
  ]) {
    try {
      outcomes.push(String(await read()))
    } catch (error) {
      outcomes.push(corrupt(error) ? 'corrupt' : String(error))
    }
  }
}
await engine.close()
console.log(JSON.stringify(outcomes))
