import { join } from 'node:path'
import {
  type Metric,
  metric,
  type Ratio,
  ratio,
  type ScenarioContext,
  type ScenarioResult,
  type Series,
} from '../scenario.ts'
import { median, prng, quantile } from '../stats.ts'
import { appendLoad, createStreams, httpRequest, keptAliveAgent, liveFanout } from './streams-load.ts'
import { type StreamsServerKind, startStreamsServer } from './streams-servers.ts'
import { removeDir, scratchDir } from './workload.ts'

/**
 * This repository's Durable Streams server (examples/streams-server, worker runtime, 1 writer
 * thread) against the official Node server (@durable-streams/server, file-backed: metadata in
 * LMDB, data in append-only files, fdatasync per append), each in its own process, driven by
 * the same kept-alive `node:http` client from this process:
 *
 * - appends/s acknowledged, 32 producers in closed loops, 200-byte JSON messages, to 1 stream
 *   and to 1,000 streams (random), 3 s each, after a warm-up;
 * - live fan-out: 1 and 1,000 long-polls on one stream, one POST, POST -> each answer (p50/p99);
 * - restart with 50,000 streams: open -> listening, against the same server on an empty
 *   directory; and resident memory per stream once all 50,000 were touched after the restart.
 *
 * Two rounds, the servers alternating first; rates and latencies are the median of the rounds.
 * On 2 cores the client shares the machine with the server: both servers pay that alike.
 */
const KINDS: readonly StreamsServerKind[] = ['ours', 'reference']
const ROUNDS = 2
const PRODUCERS = 32
const APPEND_MS = 3_000
const WARMUP_MS = 500
const MANY_STREAMS = 1_000
const SUBSCRIBERS = [1, 1_000] as const
/** Rounds per subscriber count (the p99 of 1 subscriber wants many), and the wait for the long-polls to be held before each POST. */
const FANOUT_ROUNDS = { 1: 200, 1000: 5 } as const
const FANOUT_SETTLE_MS = { 1: 30, 1000: 300 } as const
/** Rounds of one subscriber first, not counted: the first rounds on a fresh server run colder code. */
const FANOUT_WARMUP_ROUNDS = 20
const RESTART_STREAMS = 50_000
/**
 * Ours is restarted with --idle-ms IDLE_STREAM_MS for the idle-memory figure (its default is a
 * minute), and both servers are then left alone for IDLE_SETTLE_MS, their memory read every
 * IDLE_SAMPLE_MS and the lowest reading kept: V8 gives an idle heap back only when its memory
 * reducer runs (about 30-35 s after a heap was emptied, in a probe here), and when it did in a
 * 45 s window varied between runs (the reference's anonymous memory per stream read 4,056 B in
 * one run, 622 B in the next).
 */
const IDLE_STREAM_MS = 1_000
const IDLE_SETTLE_MS = 60_000
const IDLE_SAMPLE_MS = 2_000
const CREATE_CONCURRENCY = 32
const LONG_POLL_MS = 20_000

interface Restart {
  /** Open -> listening on an empty directory, and with RESTART_STREAMS streams. */
  readonly emptyMs: number
  readonly fullMs: number
  /** Process start -> listening with RESTART_STREAMS streams. */
  readonly processFullMs: number
  readonly bytesPerStream: number
  readonly anonBytesPerStream: number
  /** The same, IDLE_SETTLE_MS after the last HEAD, of a server whose streams may go idle. */
  readonly idleBytesPerStream: number
  readonly idleAnonBytesPerStream: number
}

interface RoundFigures {
  appendsOne: number
  appendsMany: number
  /** Appends answered with an error, both loads. */
  refused: number
  fanout: Record<number, number[]>
}

export async function streamsVsReference(context: ScenarioContext): Promise<ScenarioResult> {
  const root = scratchDir(context, 'streams-vs-reference')
  const rounds = new Map<StreamsServerKind, RoundFigures[]>(KINDS.map((kind) => [kind, []]))
  const restarts = new Map<StreamsServerKind, Restart>()
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? KINDS : [...KINDS].reverse()
      for (const kind of order) {
        rounds.get(kind)?.push(await measureLoad(kind, join(root, `${kind}-${round}`), round))
      }
    }
    for (const kind of KINDS) restarts.set(kind, await measureRestart(kind, join(root, `${kind}-restart`)))
  } finally {
    removeDir(root)
  }
  return toResult(rounds, restarts)
}

async function measureLoad(kind: StreamsServerKind, dir: string, round: number): Promise<RoundFigures> {
  const server = await startStreamsServer(kind, dir, LONG_POLL_MS)
  try {
    const many = Array.from({ length: MANY_STREAMS }, (_, i) => `/v1/stream/many-${i}`)
    const one = ['/v1/stream/one']
    await createStreams(
      server.url,
      [...one, ...many, '/v1/stream/fanout-1', '/v1/stream/fanout-1000'],
      CREATE_CONCURRENCY,
    )
    const random = prng(11 + round)
    await appendLoad(server.url, many, PRODUCERS, WARMUP_MS, random)
    const appendsOne = await appendLoad(server.url, one, PRODUCERS, APPEND_MS, random)
    const appendsMany = await appendLoad(server.url, many, PRODUCERS, APPEND_MS, random)
    const refused = appendsOne.refused + appendsMany.refused
    const fanout: Record<number, number[]> = {}
    await liveFanout(server.url, '/v1/stream/fanout-1', 1, FANOUT_WARMUP_ROUNDS, FANOUT_SETTLE_MS[1])
    for (const subscribers of SUBSCRIBERS) {
      fanout[subscribers] = await liveFanout(
        server.url,
        `/v1/stream/fanout-${subscribers}`,
        subscribers,
        FANOUT_ROUNDS[subscribers],
        FANOUT_SETTLE_MS[subscribers],
      )
    }
    return { appendsOne: appendsOne.perSecond, appendsMany: appendsMany.perSecond, refused, fanout }
  } finally {
    await server.stop()
  }
}

/** Open on an empty directory, create RESTART_STREAMS, restart, touch every stream: times and bytes per stream. */
async function measureRestart(kind: StreamsServerKind, dir: string): Promise<Restart> {
  const paths = Array.from({ length: RESTART_STREAMS }, (_, i) => `/v1/stream/restart-${i}`)
  const empty = await startStreamsServer(kind, dir, LONG_POLL_MS)
  const emptyMs = empty.openMs
  const emptyRss = empty.rssBytes()
  const emptyAnon = empty.rssAnonBytes()
  try {
    await createStreams(empty.url, paths, CREATE_CONCURRENCY)
  } finally {
    await empty.stop()
  }
  const restarted = await startStreamsServer(kind, dir, LONG_POLL_MS)
  let touched: Pick<Restart, 'fullMs' | 'processFullMs' | 'bytesPerStream' | 'anonBytesPerStream'>
  try {
    await headEvery(restarted.url, paths)
    touched = {
      fullMs: restarted.openMs,
      processFullMs: restarted.readyMs,
      bytesPerStream: (restarted.rssBytes() - emptyRss) / RESTART_STREAMS,
      anonBytesPerStream: (restarted.rssAnonBytes() - emptyAnon) / RESTART_STREAMS,
    }
  } finally {
    await restarted.stop()
  }
  const idle = await startStreamsServer(kind, dir, LONG_POLL_MS, kind === 'ours' ? IDLE_STREAM_MS : undefined)
  try {
    await headEvery(idle.url, paths)
    let rss = idle.rssBytes()
    let anon = idle.rssAnonBytes()
    for (let waited = 0; waited < IDLE_SETTLE_MS; waited += IDLE_SAMPLE_MS) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS))
      rss = Math.min(rss, idle.rssBytes())
      anon = Math.min(anon, idle.rssAnonBytes())
    }
    return {
      emptyMs,
      ...touched,
      idleBytesPerStream: (rss - emptyRss) / RESTART_STREAMS,
      idleAnonBytesPerStream: (anon - emptyAnon) / RESTART_STREAMS,
    }
  } finally {
    await idle.stop()
  }
}

/** A HEAD of every path, CREATE_CONCURRENCY at a time; each must find its stream. */
async function headEvery(url: string, paths: readonly string[]): Promise<void> {
  const agent = keptAliveAgent(CREATE_CONCURRENCY)
  let next = 0
  const touch = async () => {
    while (next < paths.length) {
      const response = await httpRequest(agent, `${url}${paths[next++]}`, 'HEAD')
      if (response.status !== 200) throw new Error(`HEAD after restart: ${response.status}`)
    }
  }
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, touch))
  agent.destroy()
}

function toResult(
  rounds: Map<StreamsServerKind, RoundFigures[]>,
  restarts: Map<StreamsServerKind, Restart>,
): ScenarioResult {
  const of = (kind: StreamsServerKind) => rounds.get(kind) ?? []
  const appendsOne = (kind: StreamsServerKind) => median(of(kind).map((r) => r.appendsOne))
  const appendsMany = (kind: StreamsServerKind) => median(of(kind).map((r) => r.appendsMany))
  const fanout = (kind: StreamsServerKind, n: number, q: number) =>
    quantile(
      of(kind).flatMap((r) => r.fanout[n] ?? []),
      q,
    )
  const restart = (kind: StreamsServerKind): Restart =>
    restarts.get(kind) ?? {
      emptyMs: Number.NaN,
      fullMs: Number.NaN,
      processFullMs: Number.NaN,
      bytesPerStream: Number.NaN,
      anonBytesPerStream: Number.NaN,
      idleBytesPerStream: Number.NaN,
      idleAnonBytesPerStream: Number.NaN,
    }
  const metrics: Metric[] = []
  for (const kind of KINDS) {
    metrics.push(
      metric(`${kind}_appends_1_stream_per_s`, appendsOne(kind), 'appends/s'),
      metric(`${kind}_appends_1000_streams_per_s`, appendsMany(kind), 'appends/s'),
      metric(
        `${kind}_appends_refused`,
        of(kind).reduce((sum, r) => sum + r.refused, 0),
        'appends',
      ),
    )
    for (const n of SUBSCRIBERS) {
      metrics.push(
        metric(`${kind}_fanout_${n}_p50_ms`, fanout(kind, n, 0.5), 'ms'),
        metric(`${kind}_fanout_${n}_p99_ms`, fanout(kind, n, 0.99), 'ms'),
      )
    }
    metrics.push(
      metric(`${kind}_open_empty_ms`, restart(kind).emptyMs, 'ms'),
      metric(`${kind}_open_50k_ms`, restart(kind).fullMs, 'ms'),
      metric(`${kind}_process_start_50k_ms`, restart(kind).processFullMs, 'ms'),
      metric(
        `${kind}_rss_per_stream_bytes`,
        restart(kind).bytesPerStream,
        'B',
        kind === 'ours' ? '<= 1024' : undefined,
      ),
      metric(`${kind}_rss_anon_per_stream_bytes`, restart(kind).anonBytesPerStream, 'B'),
      metric(
        `${kind}_rss_idle_per_stream_bytes`,
        restart(kind).idleBytesPerStream,
        'B',
        kind === 'ours' ? '<= 1024' : undefined,
      ),
      metric(`${kind}_rss_anon_idle_per_stream_bytes`, restart(kind).idleAnonBytesPerStream, 'B'),
    )
  }
  const ratios: Ratio[] = [
    ratio('ours_over_reference_appends_1_stream', appendsOne('ours') / appendsOne('reference'), '>= 10'),
    ratio('ours_over_reference_appends_1000_streams', appendsMany('ours') / appendsMany('reference'), '>= 10'),
    ...SUBSCRIBERS.map((n) =>
      ratio(`ours_over_reference_fanout_${n}_p99`, fanout('ours', n, 0.99) / fanout('reference', n, 0.99), '<= 1'),
    ),
    ratio('reference_over_ours_open_50k', restart('reference').fullMs / restart('ours').fullMs, '>= 20'),
    ratio('reference_over_ours_process_start_50k', restart('reference').processFullMs / restart('ours').processFullMs),
  ]
  const series: Series[] = KINDS.map((kind) => ({
    name: `${kind} appends/s`,
    x: [1, MANY_STREAMS],
    y: [appendsOne(kind), appendsMany(kind)],
    xLabel: 'streams written',
    yLabel: 'acknowledged appends/s',
  }))
  return {
    scenario: 'streams-vs-reference',
    parameters: {
      ours: 'examples/streams-server, worker runtime, its defaults (1 writer thread, 2 partitions)',
      reference: '@durable-streams/server 0.3.7, file-backed (FileBackedStreamStore)',
      producers: PRODUCERS,
      messageBytes: 200,
      appendMs: APPEND_MS,
      rounds: ROUNDS,
      fanoutRounds: FANOUT_ROUNDS,
      restartStreams: RESTART_STREAMS,
      client: 'kept-alive node:http in the bench process',
      open: 'open -> listening, measured in the server process: from before its store opens (ours: engine and records; the reference: its recovery) to listening; process_start adds Node start and module loading',
      rssPerStream:
        '(RSS after restart and a HEAD of every stream - RSS of the server just started on an empty directory) / streams; rss_anon: the same of RssAnon (without the LMDB pages mapped from the page cache)',
      rssIdlePerStream: `the same after another restart and a HEAD of every stream: the lowest reading over the next ${IDLE_SETTLE_MS / 1000} s with no request (every ${IDLE_SAMPLE_MS / 1000} s); ours started with --idle-ms ${IDLE_STREAM_MS} (default 60,000), so its streams leave its memory in that time`,
    },
    metrics,
    ratios,
    series,
  }
}
