import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * The two Durable Streams servers streams-vs-reference compares, each as its own process:
 * this repository's (examples/streams-server, `pnpm example:streams`) and the official Node
 * server, file-backed (reference-streams-server.ts).
 */
export type StreamsServerKind = 'ours' | 'reference'

export interface StreamsServerProcess {
  readonly kind: StreamsServerKind
  readonly url: string
  readonly pid: number
  /** Open -> listening (store recovery or open, and listen), as the server process measured it. */
  readonly openMs: number
  /** Process start -> listening, as the server measured it (Node's start and module loading included). */
  readonly readyMs: number
  /** Resident memory: all of it, and the anonymous part (heaps, not the page cache LMDB maps). */
  rssBytes(): number
  rssAnonBytes(): number
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>
}

const OURS = fileURLToPath(import.meta.resolve('@shapestore/example-streams-server/main'))
const REFERENCE = fileURLToPath(new URL('./reference-streams-server.ts', import.meta.url))

export async function startStreamsServer(
  kind: StreamsServerKind,
  dir: string,
  longPollMs: number,
  writers?: string,
): Promise<StreamsServerProcess> {
  const args =
    kind === 'ours'
      ? [
          OURS,
          '--dir',
          dir,
          '--port',
          '0',
          '--long-poll-ms',
          String(longPollMs),
          ...(writers ? ['--writers', writers] : []),
        ]
      : [REFERENCE, dir, String(longPollMs)]
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = await new Promise<{ url: string; openMs: number; readyMs: number }>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve(JSON.parse(line) as { url: string; openMs: number; readyMs: number })
    })
    child.once('exit', (code) => reject(new Error(`the ${kind} streams server exited (${code}) before listening`)))
  })
  const pid = child.pid as number
  return {
    kind,
    url: ready.url,
    pid,
    openMs: ready.openMs,
    readyMs: ready.readyMs,
    rssBytes: () => statusBytes(pid, 'VmRSS'),
    rssAnonBytes: () => statusBytes(pid, 'RssAnon'),
    async stop() {
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(killer)
    },
  }
}

/** A memory figure of a process, from /proc/<pid>/status. */
function statusBytes(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]
  if (kib === undefined) throw new Error(`no ${field} for process ${pid}`)
  return Number(kib) * 1024
}
