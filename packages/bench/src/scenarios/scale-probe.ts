// One scale measurement, in a fresh process started with --expose-gc:
// `scale-probe.ts <inline|workers2> <seed dir>`. Opens the store, reads every shape's latest
// offset once in random order (each a first read: a miss), then reads a random sample again; prints
// one JSON line with open -> ready, the first reads' p50/p99, the read again, and the anonymous
// resident memory the touched shapes added.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { openEngine } from '@shapestore/engine'
import { median, prng, quantile, shuffle } from '../stats.ts'
import { RUNTIMES, type RuntimeName } from './workload.ts'

const HIT_BATCH = 1000
const HIT_BATCHES = 200

const [runtime, dir] = process.argv.slice(2) as [RuntimeName, string]
const { handles } = JSON.parse(readFileSync(join(dir, 'seed.json'), 'utf8')) as { handles: string[] }
const order = shuffle([...handles], prng(17))
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('scale-probe.ts needs --expose-gc')

/** Anonymous resident memory of this process (Linux: RssAnon), after a full GC. */
function anonBytes(): number {
  gc?.()
  const line = readFileSync('/proc/self/status', 'utf8').match(/^RssAnon:\s+(\d+) kB$/m)
  if (line === null) throw new Error('no RssAnon in /proc/self/status (Linux only)')
  return Number(line[1]) * 1024
}

const openStart = performance.now()
const engine = await openEngine({ dir, runtime: RUNTIMES[runtime]() })
const readyMs = performance.now() - openStart
let sink = 0
try {
  // Allocated before the first measure: 8 bytes per shape that are the probe's, not the engine's.
  const firstReads = new Float64Array(order.length)
  const before = anonBytes()
  for (let i = 0; i < order.length; i++) {
    const start = performance.now()
    sink ^= engine.fetchLatestOffset(order[i] as string).tx
    firstReads[i] = (performance.now() - start) * 1000
  }
  const after = anonBytes()
  const pick = prng(23)
  const batches: number[] = []
  for (let b = 0; b < HIT_BATCHES; b++) {
    const start = performance.now()
    for (let i = 0; i < HIT_BATCH; i++)
      sink ^= engine.fetchLatestOffset(order[Math.floor(pick() * order.length)] as string).tx
    batches.push(((performance.now() - start) * 1e6) / HIT_BATCH)
  }
  const micros = Array.from(firstReads)
  process.stdout.write(
    `${JSON.stringify({
      shapes: order.length,
      readyMs,
      firstReadP50Us: quantile(micros, 0.5),
      firstReadP99Us: quantile(micros, 0.99),
      againNs: median(batches),
      anonBytesPerShape: (after - before) / order.length,
      sink,
    })}\n`,
  )
} finally {
  await engine.close()
}
