import { type ChildProcess, spawn } from 'node:child_process'
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
  /** The server's own time from a write's POST arriving to each live response carrying it being written. */
  readonly fanout?: {
    readonly responses: number
    readonly p50Ms: number
    readonly p99Ms: number
    readonly maxMs: number
  }
}

const MAIN = fileURLToPath(import.meta.resolve('@shapestore/example-electric-server/main'))

export async function startServerProcess(options: {
  dir: string
  longPollMs: number
  writers: number
}): Promise<ServerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      '--dir',
      options.dir,
      '--port',
      '0',
      '--long-poll-ms',
      String(options.longPollMs),
      '--writers',
      String(options.writers),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => reject(new Error(`the example server exited (${code}) before listening`)))
  })
  return {
    url,
    pid: child.pid as number,
    async stats(tx) {
      const res = await fetch(`${url}/v1/stats${tx === undefined ? '' : `?tx=${tx}`}`)
      if (!res.ok) throw new Error(`GET /v1/stats: ${res.status}`)
      return (await res.json()) as ServerStats
    },
    async stop() {
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(killer)
    },
  }
}
