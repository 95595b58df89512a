/**
 * The soak: `pnpm soak [--minutes M] [--out file.json] [--sample-seconds S] [--keep-dir] [--runtime worker|inline]
 * [--writer-memory-mb N] [--items-per-second N]`.
 *
 * Runs the SoakLoad (appends, fan-outs, tail and pooled reads, live waits, shape churn) on the
 * worker runtime (2 writer threads, 2 reader threads) for M minutes (default 10), samples memory
 * every S seconds (default: M x 60 / 120, within 0.5-10 s) after a forced GC (`--expose-gc`, set
 * by the root script), prints a table and writes every sample to a JSON file (default
 * results/soak-<time>.json). At the end it judges (memory-trend.ts explains the rule) the heap and
 * the anonymous RSS (RSS without LMDB's mapped file pages, which grow with the data read, not with
 * leaks; plain RSS is sampled and reported too), then closes the engine and checks that no
 * handle, timer, message port or OS thread outlived it. Exit 1 on growth, a leak, an unexpected
 * error, or a load that did not exercise what it claims (pooled reads, woken waiters).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { inlineRuntime, openEngine } from '@shapestore/engine'
import { commandLine } from '@shapestore/engine/command-line'
import { workerRuntime } from '../src/index.ts'
import { judgeTrend, type TrendRule, type TrendVerdict } from './memory-trend.ts'
import { anonymousRss, describeResources, leaked, type Resources, resources } from './resources.ts'
import { type SoakCounters, SoakLoad } from './soak-load.ts'

const MIB = 1024 * 1024

/** Heap after a forced GC is the live set: tight. Anonymous RSS carries allocator slack: looser. */
const HEAP_RULE: TrendRule = { warmupFraction: 0.25, relTolerance: 0.1, absToleranceBytes: 4 * MIB, minSamples: 12 }
const RSS_RULE: TrendRule = { warmupFraction: 0.25, relTolerance: 0.1, absToleranceBytes: 32 * MIB, minSamples: 12 }

interface Sample {
  readonly tMs: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  readonly rss: number
  readonly anonRss: number | null
  readonly osThreads: number | null
  readonly waiters: number
  readonly pooledLogReads: number
  readonly liveShapes: number
  readonly counters: SoakCounters
}

const USAGE = `usage: pnpm soak [--minutes M] [--runtime worker|inline] [--items-per-second N] [--writer-memory-mb N]
                 [--sample-seconds S] [--out FILE] [--keep-dir]
  Runs the mixed load for M minutes (default 10), samples memory, judges growth and leaks.
  Exit 1 on growth, a leak or an unexpected error.`

const { values: args } = commandLine(USAGE, {
  options: {
    minutes: { type: 'string', default: '10' },
    out: { type: 'string' },
    'sample-seconds': { type: 'string' },
    'keep-dir': { type: 'boolean', default: false },
    runtime: { type: 'string', default: 'worker' },
    'writer-memory-mb': { type: 'string' },
    'items-per-second': { type: 'string', default: '2000' },
  },
})
function usageError(message: string): never {
  console.error(`${message}\n\n${USAGE}`)
  process.exit(2)
}
if (args.runtime !== 'worker' && args.runtime !== 'inline') usageError('--runtime must be worker or inline')
/** inline: the same load with no writer or reader threads, to tell the threads' memory from the main thread's. */
const threaded = args.runtime === 'worker'
const minutes = Number(args.minutes)
if (!(minutes > 0)) usageError(`--minutes must be a positive number, got ${args.minutes}`)
const sampleMs =
  args['sample-seconds'] !== undefined
    ? Number(args['sample-seconds']) * 1000
    : Math.min(10_000, Math.max(500, (minutes * 60_000) / 120))
const repoRoot = join(dirname(new URL(import.meta.url).pathname), '..', '..', '..')
const out = args.out ?? join(repoRoot, 'results', `soak-${new Date().toISOString().replaceAll(':', '-')}.json`)
const gc = (globalThis as { gc?: () => void }).gc

async function main(): Promise<number> {
  if (gc === undefined) console.log('warning: no --expose-gc: heap samples include garbage (noisier)')
  await stat('.') // starts libuv's thread pool before the baseline, so its threads are not counted as a leak
  const baseline = resources()
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-soak-'))
  const engine = await openEngine({
    dir,
    partitions: 4,
    chunkBytesThreshold: 512 * 1024,
    runtime: threaded
      ? workerRuntime({
          writers: 2,
          readers: 2,
          ...(args['writer-memory-mb'] === undefined ? {} : { writerMemoryMb: Number(args['writer-memory-mb']) }),
        })
      : inlineRuntime(),
  })
  const load = new SoakLoad(engine, {
    shapes: 48,
    appenders: 4,
    readers: 3,
    waiters: 100,
    churnMs: 1500,
    snapshotBytes: 800 * 1024,
    itemsPerSecond: Number(args['items-per-second']),
  })
  console.log(
    `soak: ${minutes} min on the ${threaded ? 'worker runtime (2 writers, 2 readers)' : 'inline runtime'}, ` +
      `${args['items-per-second']} items/s, sampling every ${sampleMs / 1000} s, dir ${dir}`,
  )
  await load.start()
  const started = Date.now()
  const samples: Sample[] = []
  // About 120 samples per run: print every 6th, about 20 rows.
  const printEvery = 6
  console.log(header())
  while (Date.now() - started < minutes * 60_000 && load.unexpected.length === 0) {
    await sleep(sampleMs)
    gc?.()
    const memory = process.memoryUsage()
    const stats = engine.stats()
    const sample: Sample = {
      tMs: Date.now() - started,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      rss: memory.rss,
      anonRss: anonymousRss(),
      osThreads: resources().osThreads,
      waiters: stats.waiters,
      pooledLogReads: stats.pooledLogReads,
      liveShapes: load.liveShapes,
      counters: { ...load.counters },
    }
    samples.push(sample)
    if (samples.length % printEvery === 1) console.log(row(sample, samples.at(-1 - printEvery)))
  }
  await load.stop()
  const storeBytes = directoryBytes(dir)
  const waitersLeft = engine.stats().waiters
  const pooled = engine.stats().pooledLogReads
  await engine.close()
  // Threads exit asynchronously after close resolves: give them a moment before judging.
  let after: Resources = resources()
  for (let i = 0; i < 50 && leaked(baseline, after).length > 0; i++) {
    await sleep(100)
    after = resources()
  }
  const leaks = leaked(baseline, after)
  if (waitersLeft !== 0) leaks.push(`${waitersLeft} waiters still registered after the load stopped`)
  if (!args['keep-dir']) rmSync(dir, { recursive: true, force: true })

  const heap = judgeTrend(
    samples.map((s) => ({ tMs: s.tMs, value: s.heapUsed })),
    HEAP_RULE,
  )
  const anonAvailable = samples.every((s) => s.anonRss !== null)
  const rssSeries = samples.map((s) => ({ tMs: s.tMs, value: anonAvailable ? (s.anonRss as number) : s.rss }))
  const rss = judgeTrend(rssSeries, RSS_RULE)
  const last = samples.at(-1)
  const c = load.counters
  const problems: string[] = []
  if (heap.verdict !== 'bounded') problems.push(`heap ${heap.verdict}`)
  if (rss.verdict !== 'bounded') problems.push(`${anonAvailable ? 'anonymous RSS' : 'RSS'} ${rss.verdict}`)
  if (leaks.length > 0) problems.push(`leaks after close: ${leaks.join('; ')}`)
  if (load.unexpected.length > 0)
    problems.push(`${load.unexpected.length} unexpected errors, first: ${String(load.unexpected[0])}`)
  if (threaded && pooled === 0) problems.push('no getLogJson ran in the reader pool')
  if (c.waitsMoved === 0) problems.push('no waitForOffset was woken by an append')

  console.log(row(last as Sample, samples.at(-1 - printEvery)))
  console.log(
    `\nload: ${c.appends} appends + ${c.fanouts} fan-outs (${c.items} items), ${c.tailReads} tail reads, ` +
      `${c.bigReads} big reads (${pooled} in the reader pool), waits: ${c.waitsMoved} woken / ${c.waitsTimedOut} timed out / ` +
      `${c.waitsAborted} aborted, ${c.created} shapes created, ${c.removed} removed, ${c.hibernated} hibernations, ` +
      `${c.removalRaces} calls that raced a removal; store at the end ${(storeBytes / MIB).toFixed(1)} MiB`,
  )
  console.log(verdictLine('heap used (after GC)', heap))
  console.log(verdictLine(anonAvailable ? 'anonymous RSS' : 'RSS', rss))
  console.log(`resources before open: ${describeResources(baseline)}`)
  console.log(`resources after close: ${describeResources(after)}${leaks.length === 0 ? ' (no leak)' : ''}`)

  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        minutes,
        runtime: args.runtime,
        writerMemoryMb: args['writer-memory-mb'] ?? null,
        itemsPerSecond: Number(args['items-per-second']),
        sampleMs,
        rules: { heap: HEAP_RULE, rss: RSS_RULE },
        verdicts: { heap, rss, rssSeries: anonAvailable ? 'anonymous' : 'rss' },
        leaks,
        resources: {
          before: Object.fromEntries(baseline.active),
          after: Object.fromEntries(after.active),
          threadsBefore: baseline.osThreads,
          threadsAfter: after.osThreads,
        },
        counters: c,
        pooledLogReads: pooled,
        storeBytes,
        unexpected: load.unexpected.slice(0, 10).map(String),
        problems,
        samples,
      },
      null,
      1,
    )}\n`,
  )
  console.log(`samples: ${out}`)
  console.log(problems.length === 0 ? 'soak: PASS' : `soak: FAIL (${problems.join('; ')})`)
  return problems.length === 0 ? 0 : 1
}

function header(): string {
  return [
    't (s)',
    'heap MiB',
    'anon RSS MiB',
    'RSS MiB',
    'ext MiB',
    'threads',
    'waiters',
    'pooled',
    'items/s',
    'shapes',
  ]
    .map((h) => h.padStart(12))
    .join('')
}

/** One table row; rates are since `previous` (or the start). */
function row(s: Sample, previous: Sample | undefined): string {
  const mib = (n: number | null) => (n === null ? 'n/a' : (n / MIB).toFixed(1))
  const items = s.counters.items - (previous?.counters.items ?? 0)
  const seconds = (s.tMs - (previous?.tMs ?? 0)) / 1000
  return [
    (s.tMs / 1000).toFixed(0),
    mib(s.heapUsed),
    mib(s.anonRss),
    mib(s.rss),
    mib(s.external),
    String(s.osThreads ?? 'n/a'),
    String(s.waiters),
    String(s.pooledLogReads),
    (items / seconds).toFixed(0),
    String(s.liveShapes),
  ]
    .map((cell) => cell.padStart(12))
    .join('')
}

function verdictLine(what: string, v: TrendVerdict): string {
  const mib = (n: number) => `${(n / MIB).toFixed(1)} MiB`
  if (v.verdict === 'inconclusive')
    return `${what}: inconclusive (${v.samplesJudged} samples after warm-up; run longer)`
  return (
    `${what}: ${v.verdict.toUpperCase()} — median ${mib(v.firstMedian)} -> ${mib(v.secondMedian)} ` +
    `(growth ${mib(v.growth)}, rise within the 2nd half ${mib(v.secondHalfRise)}, allowed ${mib(v.allowed)}; ${v.samplesJudged} samples)`
  )
}

function directoryBytes(path: string): number {
  let total = 0
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size
  }
  return total
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

process.exitCode = await main()
