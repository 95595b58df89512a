import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawnServer } from './server-process.ts'

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

/** `idleStreamMs`: ours lets a stream unused that long go from memory (its --idle-ms); the reference has no such setting. */
export async function startStreamsServer(
  kind: StreamsServerKind,
  dir: string,
  longPollMs: number,
  idleStreamMs?: number,
): Promise<StreamsServerProcess> {
  const idle = idleStreamMs === undefined ? [] : ['--idle-ms', String(idleStreamMs)]
  const args =
    kind === 'ours'
      ? [OURS, '--dir', dir, '--port', '0', '--long-poll-ms', String(longPollMs), ...idle]
      : [REFERENCE, dir, String(longPollMs)]
  const server = await spawnServer(`the ${kind} streams server`, ['--import', 'tsx', ...args], 10_000)
  const { pid, ready } = server
  return {
    kind,
    url: ready.url as string,
    pid,
    openMs: ready.openMs as number,
    readyMs: ready.readyMs as number,
    rssBytes: () => statusBytes(pid, 'VmRSS'),
    rssAnonBytes: () => statusBytes(pid, 'RssAnon'),
    stop: server.stop,
  }
}

/** A memory figure of a process, from /proc/<pid>/status. */
function statusBytes(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]
  if (kib === undefined) throw new Error(`no ${field} for process ${pid}`)
  return Number(kib) * 1024
}
