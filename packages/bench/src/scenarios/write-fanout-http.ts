import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median, quantile } from '../stats.ts'
import { type ServerProcess, startServerProcess } from './server-process.ts'
import { removeDir, scratchDir } from './workload.ts'

/**
 * Write fanout over HTTP, end to end, in the setup of Electric's "write fanout" benchmark (one
 * shape, N clients, a 10-row transaction; Electric's chart: mean "write seen" ~100 ms at 200
 * clients, 4 vCPU): the example Electric server (examples/electric-server) runs as its own
 * process; N official clients (`@electric-sql/client` ShapeStreams, in one client process) sync
 * one shape and hold a live long-poll each; then the client process POSTs a 10-row transaction
 * and times, per client, from just before the POST until that client's stream delivered the
 * transaction's last row. Per N: p50/p99/max over every client of every round, and the server
 * process's RSS (current, and peak so far). Baseline in the same run: one client alone
 * (`p50_<N>_over_1_client`, what fanning out to N costs over the write path's floor).
 *
 * Rounds start only once the server holds all N long-polls (its `/v1/stats` waiters == N).
 * Both processes share the machine's cores with this driver: on 2 cores the clients' own JSON
 * parsing competes with the server, so the figures are an upper bound on the server's part.
 */
const CLIENT_COUNTS = parseCounts(process.env.WRITE_FANOUT_HTTP_CLIENTS) ?? [100, 500, 1_000, 2_000]
const ROUNDS = 5
const ROWS_PER_TRANSACTION = 10
/** Electric's long-poll window: holds never time out during a round. */
const LONG_POLL_MS = 20_000
const WRITERS = 1
const TABLE = 'items'
/** A wait for the server to hold every long-poll that takes this long means a client is lost. */
const HELD_GUARD_MS = 120_000

const CLIENTS_FILE = fileURLToPath(new URL('./fanout-clients.ts', import.meta.url))

/** The client kinds, each against a fresh server: see fanout-clients.ts. */
const MODES = ['electric', 'raw'] as const
type Mode = (typeof MODES)[number]

interface Measured {
  readonly mode: Mode
  readonly clients: number
  readonly latencies: number[]
  readonly roundMaxima: number[]
  readonly writeMs: number[]
  /** Per round, the server's own share (POST arrival → each live response written): p50 and max. */
  readonly serverP50Ms: number[]
  readonly serverMaxMs: number[]
  readonly rssBytes: number
  readonly maxRssBytes: number
}

export async function writeFanoutHttp(context: ScenarioContext): Promise<ScenarioResult> {
  const measured: Measured[] = []
  for (const mode of MODES) measured.push(...(await runMode(context, mode)))
  return toResult(measured)
}

/** One server process and one client process; N grows through 1 and CLIENT_COUNTS. */
async function runMode(context: ScenarioContext, mode: Mode): Promise<Measured[]> {
  const dir = scratchDir(context, 'write-fanout-http')
  const measured: Measured[] = []
  let server: ServerProcess | undefined
  let clients: ClientProcess | undefined
  try {
    server = await startServerProcess({ dir, longPollMs: LONG_POLL_MS, writers: WRITERS })
    await seedTable(server.url)
    clients = startClientProcess(server.url, mode)
    let round = 0
    for (const n of [1, ...CLIENT_COUNTS]) {
      await clients.request({ cmd: 'grow', clients: n }, 'grown')
      // The first rounds at one client warm the server and the client code up; not counted.
      const warmups = n === 1 ? 2 : 0
      const latencies: number[] = []
      const roundMaxima: number[] = []
      const writeMs: number[] = []
      const serverP50Ms: number[] = []
      const serverMaxMs: number[] = []
      for (let r = 0; r < ROUNDS + warmups; r++) {
        await allHeld(server, n)
        const result = (await clients.request(
          { cmd: 'round', prefix: `r${round++}`, rows: ROWS_PER_TRANSACTION },
          'round',
        )) as { latenciesMs: number[]; writeMs: number; txid: number }
        if (r < warmups) continue
        latencies.push(...result.latenciesMs)
        roundMaxima.push(Math.max(...result.latenciesMs))
        writeMs.push(result.writeMs)
        const { fanout } = await server.stats(result.txid)
        if (fanout === undefined || fanout === null) throw new Error(`no fanout times for tx ${result.txid}`)
        serverP50Ms.push(fanout.p50Ms)
        serverMaxMs.push(fanout.maxMs)
      }
      const { rssBytes, maxRssBytes } = await server.stats()
      measured.push({
        mode,
        clients: n,
        latencies,
        roundMaxima,
        writeMs,
        serverP50Ms,
        serverMaxMs,
        rssBytes,
        maxRssBytes,
      })
      console.log(
        `write-fanout-http ${mode}: ${n} clients, seen p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms; server share p50 ${median(serverP50Ms).toFixed(1)} ms, max ${median(serverMaxMs).toFixed(1)} ms; server RSS ${(rssBytes / 1e6).toFixed(0)} MB`,
      )
    }
  } finally {
    await clients?.exit()
    await server?.stop()
    removeDir(dir)
  }
  return measured
}

function toResult(measured: readonly Measured[]): ScenarioResult {
  const metrics: Metric[] = []
  const ratios: Ratio[] = []
  for (const mode of MODES) {
    const ofMode = measured.filter((m) => m.mode === mode)
    const alone = ofMode.find((m) => m.clients === 1) as Measured
    metrics.push(metric(`${mode}_seen_1_client_p50_ms`, quantile(alone.latencies, 0.5), 'ms'))
    for (const m of ofMode.filter((m) => m.clients !== 1)) {
      const name = `${mode}_${m.clients}`
      metrics.push(
        metric(`${name}_seen_p50_ms`, quantile(m.latencies, 0.5), 'ms'),
        metric(`${name}_seen_p99_ms`, quantile(m.latencies, 0.99), 'ms'),
        metric(`${name}_seen_max_ms`, Math.max(...m.latencies), 'ms'),
        metric(`${name}_all_seen_median_ms`, median(m.roundMaxima), 'ms'),
        metric(`${name}_write_ms`, median(m.writeMs), 'ms'),
        metric(`${name}_server_share_p50_ms`, median(m.serverP50Ms), 'ms'),
        metric(`${name}_server_share_max_ms`, median(m.serverMaxMs), 'ms'),
        metric(`${name}_server_rss_mb`, m.rssBytes / 1e6, 'MB'),
        metric(`${name}_server_peak_rss_mb`, m.maxRssBytes / 1e6, 'MB'),
      )
      ratios.push(ratio(`${name}_p50_over_1_client`, quantile(m.latencies, 0.5) / quantile(alone.latencies, 0.5)))
    }
  }
  return {
    scenario: 'write-fanout-http',
    parameters: {
      clients: CLIENT_COUNTS,
      rounds: ROUNDS,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      longPollMs: LONG_POLL_MS,
      serverWriters: WRITERS,
      clientKinds:
        'electric = @electric-sql/client 1.5.28 ShapeStream; raw = minimal node:http long-poll loop; one client process each',
      timed: 'POST start -> the client received the last row (per client)',
      baseline: 'one client alone',
    },
    metrics,
    ratios,
    series: MODES.flatMap((mode) =>
      (['p50', 'p99'] as const).map((stat) => {
        const points = measured.filter((m) => m.mode === mode && m.clients !== 1)
        return {
          name: `${mode} ${stat}`,
          x: points.map((m) => m.clients),
          y: points.map((m) => quantile(m.latencies, stat === 'p50' ? 0.5 : 0.99)),
          xLabel: 'live clients on one shape',
          yLabel: 'ms from the write until a client saw it',
        }
      }),
    ),
  }
}

/** Creates the table (the example has no DDL: the first write defines its columns). */
async function seedTable(url: string): Promise<void> {
  const ops = Array.from({ length: ROWS_PER_TRANSACTION }, (_, i) => ({
    op: 'insert',
    row: { id: `seed-${i}`, title: `row ${i} of seed`, body: 'x'.repeat(120) },
  }))
  const res = await fetch(`${url}/v1/tables/${TABLE}/transactions`, { method: 'POST', body: JSON.stringify({ ops }) })
  if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`)
}

/** Waits until the server holds `n` long-polls: every client is live and waiting. */
export async function allHeld(server: ServerProcess, n: number): Promise<void> {
  const deadline = Date.now() + HELD_GUARD_MS
  for (;;) {
    const { waiters } = await server.stats()
    if (waiters === n) return
    if (Date.now() > deadline) throw new Error(`the server holds ${waiters} long-polls, expected ${n}`)
    await sleep(20)
  }
}

export interface ClientProcess {
  request(command: Record<string, unknown>, event: string): Promise<Record<string, unknown>>
  exit(): Promise<void>
}

/** The clients' process (fanout-clients.ts); `options` as it documents (the pg-e2e scenario's). */
export function startClientProcess(
  url: string,
  mode: Mode,
  options: { pg?: string; shapePerClient?: boolean } = {},
): ClientProcess {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', CLIENTS_FILE, url, TABLE, mode, JSON.stringify(options)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const waiting: Array<{
    event: string
    resolve: (value: Record<string, unknown>) => void
    reject: (error: Error) => void
  }> = []
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>
    const next = waiting.shift()
    if (next === undefined) return
    if (message.event === next.event) next.resolve(message)
    else next.reject(new Error(`client process: ${JSON.stringify(message)}`))
  })
  child.once('exit', (code) => {
    for (const next of waiting.splice(0)) next.reject(new Error(`the client process exited (${code})`))
  })
  return {
    request(command, event) {
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve, reject })
        child.stdin?.write(`${JSON.stringify(command)}\n`)
      })
    },
    async exit() {
      if (child.exitCode === null) child.stdin?.write(`${JSON.stringify({ cmd: 'exit' })}\n`)
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(killer)
    },
  }
}

/** `WRITE_FANOUT_HTTP_CLIENTS=50,200` runs other client counts (e.g. a quick check). */
function parseCounts(text: string | undefined): number[] | undefined {
  if (text === undefined || text === '') return undefined
  const counts = text.split(',').map(Number)
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 2))
    throw new Error('WRITE_FANOUT_HTTP_CLIENTS: integers >= 2')
  return counts
}
