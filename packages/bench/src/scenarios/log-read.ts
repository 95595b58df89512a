import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Engine, LogOffset, openEngine } from '@shapestore/engine'
import { Bench } from 'tinybench'
import { metric, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'
import {
  ROW_BYTES,
  ROWS_PER_TRANSACTION,
  RUNTIMES,
  removeDir,
  rowPool,
  scratchDir,
  transactionItems,
} from './workload.ts'

/**
 * Log read: one shape's first closed log chunk (10 MiB of row JSON: ≈52k rows of 200 bytes,
 * ≈10.5 MB as a JSON array) read with getLogJson, inline (inline runtime: the read runs on the
 * main thread) and through the worker runtime's reader pool (a closed chunk is a big read:
 * it runs in a piscina thread and comes back as a transferred buffer; the figure is the main
 * thread's wait). Baseline in the same run, the ceiling: a Buffer.copy of the same number of
 * bytes into a preallocated buffer (`memcpy_over_inline`). GB/s = answer bytes / s / 1e9.
 *
 * The inline read and the copy run on one thread: timed with tinybench (median). The pool
 * read is timed with our own loop (median of POOL_READS), and each read is checked to have
 * been served by the pool (stats().pooledLogReads grows by one), since the engine reads
 * inline whenever the pool is not ready or saturated.
 */
const CHUNK_BYTES = 10 * 1024 * 1024
/** A bit more than a chunk's worth of 200-byte rows (52,429), so the first chunk closes. */
const TRANSACTIONS = 1_100
const POOL_READS = 30
/**
 * Untimed pool reads first, as tinybench warms the inline read: a reader thread's first reads
 * run cold code (measured with a bare piscina pool of 2 threads: the first 20 reads took twice
 * as long as reads 40-60). 60 reads is about 30 per thread.
 */
const POOL_WARMUP_READS = 60
/** How long the reader threads may take to start (measured 0.5-2 s) before the scenario gives up. */
const POOL_START_TIMEOUT_MS = 30_000

export async function logRead(context: ScenarioContext): Promise<ScenarioResult> {
  const dir = scratchDir(context, 'log-read')
  try {
    // ---- the fixture, and the inline read against the copy ----
    let handle: string
    let upTo: LogOffset
    let reference: Buffer
    let inlineMs: number
    let memcpyMs: number
    let rows: number
    const inline = await openEngine({ dir, chunkBytesThreshold: CHUNK_BYTES, runtime: RUNTIMES.inline() })
    try {
      handle = (await inline.getOrCreateShape({ table: 'items' })).handle
      await inline.makeNewSnapshot(handle, [])
      await writeLog(inline, handle)
      const end = inline.getChunkEndLogOffset(handle, LogOffset.LAST_BEFORE_REAL)
      if (end === null) throw new Error('the first log chunk did not close: write more rows')
      upTo = end
      reference = await inline.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)
      // Also checks the answer is one valid JSON array.
      rows = (JSON.parse(reference.toString('utf8')) as unknown[]).length
      const bytes = reference.length
      const source = Buffer.alloc(bytes, 0x61)
      const target = Buffer.allocUnsafeSlow(bytes)
      let sink = 0
      const bench = new Bench({ time: 1000, warmupTime: 200 })
      bench
        .add('inline getLogJson', async () => {
          sink ^= (await inline.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)).length
        })
        .add('Buffer.copy', () => {
          sink ^= source.copy(target)
        })
      await bench.run()
      if (sink === 0.5) console.log(sink) // keeps the results observable
      inlineMs = p50Ms(bench, 'inline getLogJson')
      memcpyMs = p50Ms(bench, 'Buffer.copy')
      if (inline.stats().pooledLogReads !== 0) throw new Error('the inline runtime used a reader pool')
    } finally {
      await inline.close()
    }

    // ---- the same read through the reader pool ----
    const pooled = await openEngine({ dir, chunkBytesThreshold: CHUNK_BYTES, runtime: RUNTIMES.workers2() })
    const poolMs: number[] = []
    let poolStartMs: number
    try {
      poolStartMs = await waitForPool(pooled, handle, upTo)
      const answer = await pooled.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)
      if (!answer.equals(reference)) throw new Error('the pool and inline answers differ')
      for (let i = 0; i < POOL_WARMUP_READS; i++) await pooled.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)
      for (let i = 0; i < POOL_READS; i++) {
        const before = pooled.stats().pooledLogReads
        const start = performance.now()
        await pooled.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)
        poolMs.push(performance.now() - start)
        if (pooled.stats().pooledLogReads !== before + 1) throw new Error('a read meant for the pool ran inline')
      }
    } finally {
      await pooled.close()
    }

    const bytes = reference.length
    const gbps = (ms: number) => bytes / (ms / 1000) / 1e9
    const poolMedianMs = median(poolMs)
    return {
      scenario: 'log-read',
      parameters: {
        bytes,
        rows,
        rowBytes: ROW_BYTES,
        chunkBytesThreshold: CHUNK_BYTES,
        range: `0_inf..${upTo.toString()} (the first closed chunk)`,
        poolReads: POOL_READS,
        poolWarmupReads: POOL_WARMUP_READS,
        readers: 2,
        memcpy: 'the same source and target every time (cache-warm: the ceiling)',
      },
      metrics: [
        metric('inline_gbps', gbps(inlineMs), 'GB/s', '>= 1'),
        metric('pool_gbps', gbps(poolMedianMs), 'GB/s', '>= 1'),
        metric('memcpy_gbps', gbps(memcpyMs), 'GB/s'),
        metric('inline_ms', inlineMs, 'ms'),
        metric('pool_ms', poolMedianMs, 'ms'),
        metric('memcpy_ms', memcpyMs, 'ms'),
        metric('pool_start_ms', poolStartMs, 'ms'),
      ],
      ratios: [ratio('memcpy_over_inline', inlineMs / memcpyMs), ratio('memcpy_over_pool', poolMedianMs / memcpyMs)],
    }
  } finally {
    removeDir(dir)
  }
}

/** TRANSACTIONS transactions of 50 distinct rows, 100 in flight at a time (they share group commits). */
async function writeLog(engine: Engine, handle: string): Promise<void> {
  const pool = rowPool((TRANSACTIONS + 1) * ROWS_PER_TRANSACTION)
  for (let first = 1; first <= TRANSACTIONS; first += 100) {
    const batch: Promise<void>[] = []
    for (let tx = first; tx < first + 100 && tx <= TRANSACTIONS; tx++) {
      batch.push(engine.appendToLog(handle, transactionItems(tx, pool)))
    }
    await Promise.all(batch)
  }
}

/**
 * The first big read starts the reader threads and runs inline meanwhile: read until one is
 * served by the pool. Resolves the ms that took.
 */
async function waitForPool(engine: Engine, handle: string, upTo: LogOffset): Promise<number> {
  const start = performance.now()
  while (engine.stats().pooledLogReads === 0) {
    if (performance.now() - start > POOL_START_TIMEOUT_MS) throw new Error('the reader pool never served a read')
    await engine.getLogJson(handle, LogOffset.LAST_BEFORE_REAL, upTo)
    await sleep(20)
  }
  return performance.now() - start
}

function p50Ms(bench: Bench, name: string): number {
  const result = bench.getTask(name)?.result
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} did not complete`)
  return result.latency.p50
}
