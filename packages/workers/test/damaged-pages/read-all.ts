// One damaged-page trial's reads, in a process of its own (a native crash shows as a signal):
// `read-all.ts <dir> <inline|workers> <expected.json>`. Opens the store and reads every shape with
// data in full, streamed and as one JSON array, then asks the catalog about every shape (its
// definition, the handle its definition finds, its latest offset) and lists them all; prints one
// JSON line: the store refused at open, or each read's outcome (exact, corrupt = STORAGE_CORRUPT,
// wrong = another answer, and which, or another error).
import { readFileSync } from 'node:fs'
import { EngineError, ErrorCode, inlineRuntime, openEngine, type ShapeDefinition } from '@shapestore/engine'
import { workerRuntime } from '../../src/index.ts'
import type { Expected } from './run.ts'

const [dir, runtimeName, expectedFile] = process.argv.slice(2) as [string, string, string]
const { rows: expectedRows, shapes } = JSON.parse(readFileSync(expectedFile, 'utf8')) as Expected
const expected = new Map(Object.entries(expectedRows))
const runtime = runtimeName === 'inline' ? inlineRuntime() : workerRuntime({ writers: 1, readers: 1 })

type Outcome = 'exact' | 'corrupt' | 'wrong' | string

function outcomeOf(error: unknown): Outcome {
  if (error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT) return 'corrupt'
  return error instanceof EngineError ? `error ${error.code}: ${error.message}` : `uncoded: ${String(error)}`
}

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const rows: string[] = []
  for await (const row of stream) rows.push(row)
  return rows
}

/** The rows of a JSON array answer as the stream gives them; unparseable bytes as themselves. */
function jsonRows(text: string): string[] {
  try {
    return (JSON.parse(text) as unknown[]).map((row) => JSON.stringify(row))
  } catch {
    return [text]
  }
}

let engine: Awaited<ReturnType<typeof openEngine>>
try {
  engine = await openEngine({ dir, partitions: 2, runtime })
} catch (error) {
  console.log(JSON.stringify({ refused: outcomeOf(error) }))
  process.exit(0)
}
const reads: Outcome[] = []
for (const [handle, rows] of expected) {
  const want = JSON.stringify(rows)
  for (const read of [
    () => collect(engine.getLogStream(handle, '-1')),
    async () => jsonRows((await engine.getLogJson(handle, '-1')).toString()),
  ]) {
    try {
      reads.push(JSON.stringify(await read()) === want ? 'exact' : 'wrong')
    } catch (error) {
      reads.push(outcomeOf(error))
    }
  }
}
/** One catalog question: exact when `answer()` gives what was stored; `what` names it in a wrong answer. */
function ask(what: string, answer: () => unknown, want: unknown): void {
  try {
    const got = answer()
    reads.push(
      JSON.stringify(got) === JSON.stringify(want) ? 'exact' : `wrong ${what}${got === undefined ? ' (absent)' : ''}`,
    )
  } catch (error) {
    reads.push(outcomeOf(error))
  }
}
for (const { handle, shape, latest } of shapes) {
  ask('definition', () => engine.fetchShapeByHandle(handle), shape)
  ask('handle', () => engine.fetchHandleByShape(shape as ShapeDefinition), handle)
  ask('latest offset', () => String(engine.fetchLatestOffset(handle)), latest)
}
ask(
  'list',
  () => [...engine.listShapes()],
  shapes.map(({ handle, shape }) => ({ handle, shape })),
)
await engine.close()
console.log(JSON.stringify({ reads }))
