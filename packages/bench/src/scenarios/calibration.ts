import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { Bench } from 'tinybench'
import { metric, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'

/**
 * Calibration: fixed tasks that track how fast this machine is, right now, at the kinds of work
 * the gated figures are made of. The gate divides a figure by the calibration of its kind,
 * measured in the same process, so a slower machine or a busier hour does not read as a
 * regression of the code. None of these tasks touches shapestore's code.
 * - `cpu_ms`: hash and JSON-encode a fixed 256 KiB of rows (tinybench median);
 * - `thread_roundtrip_us`: a message to a worker thread and its answer.
 * An fsync task (one synchronous LMDB commit) was tried and dropped: on the shared disk it
 * varied 0.3-4.8 ms between runs and made the fsync-bound figure noisier, not steadier.
 */
const ROUNDTRIPS = 2000

export async function calibration(_context: ScenarioContext): Promise<ScenarioResult> {
  const rows = Array.from({ length: 1024 }, (_, i) => ({ id: i, title: `row ${i}`, body: 'x'.repeat(200) }))
  const bench = new Bench({ time: 500, warmupTime: 100 })
  let sink = 0
  bench.add('cpu', () => {
    const json = JSON.stringify(rows)
    sink ^= createHash('sha256').update(json).digest()[0] as number
  })
  bench.runSync()
  const cpu = bench.getTask('cpu')?.result
  if (cpu === undefined || !('latency' in cpu)) throw new Error('calibration: cpu task did not complete')
  if (sink === 0.5) console.log(sink)

  return {
    scenario: 'calibration',
    parameters: { cpuRows: rows.length, roundtrips: ROUNDTRIPS },
    metrics: [metric('cpu_ms', cpu.latency.p50, 'ms'), metric('thread_roundtrip_us', await threadRoundtripUs(), 'µs')],
    ratios: [],
  }
}

async function threadRoundtripUs(): Promise<number> {
  const echo =
    "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m))"
  const worker = new Worker(echo, { eval: true })
  try {
    const once = () =>
      new Promise<number>((resolve) => {
        const start = performance.now()
        worker.once('message', () => resolve((performance.now() - start) * 1000))
        worker.postMessage(1)
      })
    await once()
    const times: number[] = []
    for (let i = 0; i < ROUNDTRIPS; i++) times.push(await once())
    return median(times)
  } finally {
    await worker.terminate()
  }
}
