import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type Message, type Row, Shape, ShapeStream, type ShapeStreamInterface } from '@electric-sql/client'
import { type ShapeServer, startShapeServer } from '../src/index.ts'

/** Short holds so live tests do not wait Electric's 20 s. */
export const TEST_LONG_POLL_MS = 400
/** How long a test waits for something that should happen at once before failing (a hang guard, not a timing claim). */
export const HANG_GUARD_MS = 15_000

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'electric-server-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** An in-process server on a fresh directory (writers inline: quicker to start). */
export async function startTestServer(dir: string, writers = 0): Promise<ShapeServer> {
  return startShapeServer({ dir, writers, longPollTimeoutMs: TEST_LONG_POLL_MS })
}

export type Op = { op: 'insert' | 'update' | 'delete'; row: Record<string, unknown> }

/** POSTs one transaction; returns the response status and JSON body. */
export async function write(url: string, table: string, ops: Op[]): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/v1/tables/${encodeURIComponent(table)}/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ops }),
  })
  return { status: res.status, body: await res.json() }
}

export async function writeOk(url: string, table: string, ops: Op[]): Promise<string> {
  const { status, body } = await write(url, table, ops)
  if (status !== 200) throw new Error(`write failed: ${status} ${JSON.stringify(body)}`)
  return (body as { offset: string }).offset
}

/** A client synced with the official ShapeStream + Shape; every request URL and message is recorded. */
export interface Client {
  readonly stream: ShapeStream<Row>
  readonly shape: Shape<Row>
  readonly requests: URL[]
  readonly messages: Message<Row>[]
  readonly errors: unknown[]
  /** Resolves once the shape's rows satisfy `predicate` (checked at every Shape notification). */
  until(predicate: (rows: Row[]) => boolean, what: string): Promise<Row[]>
  close(): void
}

export function connect(
  url: string,
  params: Record<string, string | string[] | Record<string, string>>,
  resume?: { handle: string; offset: string },
): Client {
  const controller = new AbortController()
  const requests: URL[] = []
  const messages: Message<Row>[] = []
  const errors: unknown[] = []
  const stream = new ShapeStream<Row>({
    url: `${url}/v1/shape`,
    params: params as never,
    signal: controller.signal,
    ...(resume === undefined ? {} : { handle: resume.handle, offset: resume.offset as `${number}_${number}` }),
    backoffOptions: { initialDelay: 20, maxDelay: 100, multiplier: 1.5 },
    fetchClient: (input, init) => {
      requests.push(new URL(input instanceof Request ? input.url : String(input)))
      return fetch(input, init)
    },
    onError: (error) => {
      errors.push(error)
    },
  })
  stream.subscribe(
    (batch) => {
      messages.push(...batch)
    },
    (error) => errors.push(error),
  )
  // The client's own types disagree under exactOptionalPropertyTypes (shapeHandle?: vs string).
  const shape = new Shape(stream as unknown as ShapeStreamInterface<Row>)
  return {
    stream,
    shape,
    requests,
    messages,
    errors,
    until(predicate, what) {
      return new Promise<Row[]>((resolve, reject) => {
        const check = () => {
          if (!shape.isUpToDate) return false
          const rows = shape.currentRows
          if (!predicate(rows)) return false
          clearTimeout(timer)
          unsubscribe()
          resolve(rows)
          return true
        }
        const timer = setTimeout(() => {
          unsubscribe()
          reject(
            new Error(`timed out waiting for ${what}; rows: ${JSON.stringify(shape.currentRows)}; errors: ${errors}`),
          )
        }, HANG_GUARD_MS)
        const unsubscribe = shape.subscribe(() => {
          check()
        })
        check()
      })
    },
    close() {
      controller.abort()
      shape.unsubscribeAll()
    },
  }
}

/** Rows sorted by id, for comparisons. */
export function byId(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => Number(a.id) - Number(b.id))
}

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

/** The server as its own process (`src/main.ts`), as `pnpm example:server` runs it. */
export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  kill(signal: NodeJS.Signals): Promise<void>
}

export async function spawnServer(
  dir: string,
  port = 0,
  writers = 1,
  extraArgs: readonly string[] = [],
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      '--dir',
      dir,
      '--port',
      String(port),
      '--long-poll-ms',
      String(TEST_LONG_POLL_MS),
      '--writers',
      String(writers),
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)))
  })
  return {
    url,
    port: Number(new URL(url).port),
    child,
    async kill(signal) {
      child.kill(signal)
      await exited
    },
  }
}
