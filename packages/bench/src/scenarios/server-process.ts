import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * The example Electric server (`examples/electric-server`, what `pnpm example:server` runs) as
 * its own process, so the figures measured against it (its RSS above all) are the server's and
 * not the benchmark driver's.
 */
export interface ServerProcess {
  readonly url: string
  readonly pid: number
  /** With `tx`, also the server's share of that transaction's fanout. */
  stats(tx?: number): Promise<ServerStats>
  /** SIGTERM (a clean close), then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>
}

/** The example's `GET /v1/stats`. */
export interface ServerStats {
  readonly rssBytes: number
  readonly maxRssBytes: number
  readonly waiters: number
  readonly shapes: number
  readonly lastTx: number
  /** Postgres mode: the follower's figures (examples/electric-server src/pg/replication-times.ts). */
  readonly replication?: {
    /** Transactions applied since the start, with or without changes. */
    readonly applied: number
    /** Of those, the ones with changes to served tables. */
    readonly transactions: number
    readonly rows: number
    readonly lagMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly last: number }
    readonly totalMs: { readonly decode: number; readonly plan: number; readonly append: number }
  }
  /** The server's own time from a write's POST arriving to each live response carrying it being written. */
  readonly fanout?: {
    readonly responses: number
    readonly p50Ms: number
    readonly p99Ms: number
    readonly maxMs: number
  }
}

const MAIN = fileURLToPath(import.meta.resolve('@shapestore/example-electric-server/main'))
const DIST_MAIN = join(dirname(dirname(MAIN)), 'dist', 'main.js')

/**
 * How the example server runs: from its TypeScript source under tsx (`pnpm example:server`), or
 * compiled (`dist/`, with the engine's and the workers' compiled exports: the condition
 * `shapestore-dist`), as a deployment runs it; buildExampleServer() compiles it.
 */
export type ServerBuild = 'source' | 'dist'

/** `pnpm build` of the example server and the packages it imports. */
export function buildExampleServer(): void {
  const built = spawnSync('pnpm', ['--filter', '@shapestore/example-electric-server...', 'build'], {
    encoding: 'utf8',
  })
  if (built.status !== 0) throw new Error(`building the example server failed: ${built.stdout}${built.stderr}`)
}

export async function startServerProcess(options: {
  dir: string
  longPollMs: number
  writers: number
  /** More flags for the server (`--pg URL …`). */
  extraArgs?: readonly string[]
  /** Default 'source'. */
  build?: ServerBuild
}): Promise<ServerProcess> {
  const compiled = options.build === 'dist'
  const server = await spawnServer('the example server', [
    ...(compiled ? ['--conditions=shapestore-dist', DIST_MAIN] : ['--import', 'tsx', MAIN]),
    '--dir',
    options.dir,
    '--port',
    '0',
    '--long-poll-ms',
    String(options.longPollMs),
    '--writers',
    String(options.writers),
    ...(options.extraArgs ?? []),
  ])
  const url = server.ready.url as string
  return {
    url,
    pid: server.pid,
    async stats(tx) {
      const res = await fetch(`${url}/v1/stats${tx === undefined ? '' : `?tx=${tx}`}`)
      if (!res.ok) throw new Error(`GET /v1/stats: ${res.status}`)
      return (await res.json()) as ServerStats
    },
    stop: server.stop,
  }
}

/** A server process (`node ...args`), once it has printed its JSON ready line. */
export interface SpawnedServer {
  readonly pid: number
  /** The ready line: the first stdout line that starts with `{`, parsed. */
  readonly ready: Record<string, unknown>
  /** SIGTERM (a clean close), then SIGKILL if it has not exited within `killAfterMs`. */
  stop(): Promise<void>
}

export async function spawnServer(name: string, args: readonly string[], killAfterMs = 5_000): Promise<SpawnedServer> {
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve(JSON.parse(line) as Record<string, unknown>)
    })
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)))
  })
  return {
    pid: child.pid as number,
    ready,
    async stop() {
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      await exited
      clearTimeout(killer)
    },
  }
}
