// One cold restore, in a fresh process: `cold-restore-probe.ts <lazy|eager> <dir> <seed> <inline|workers2>`.
// Prints one JSON line of timings. A fresh process per probe, so nothing of an earlier open
// (lmdb-js' env cache, the read-path table, V8's warm code) helps the one measured.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { openEngine } from '@shapestore/engine'
import { prng, quantile, shuffle } from '../stats.ts'
import { RUNTIMES, type RuntimeName } from './workload.ts'

const [mode, dir, seedText, runtimeName] = process.argv.slice(2) as [string, string, string, RuntimeName]
const { handles } = JSON.parse(readFileSync(join(dir, 'seed.json'), 'utf8')) as { handles: string[] }

const openStart = performance.now()
const engine = await openEngine({ dir, runtime: RUNTIMES[runtimeName]() })
let readyMs = performance.now() - openStart
if (mode === 'eager') {
  // What Electric did before PR #3572: at boot, read every shape's definition, snapshot flag
  // and latest offset.
  for (const { handle } of engine.listShapes()) {
    engine.snapshotStarted(handle)
    engine.fetchLatestOffset(handle)
  }
  readyMs = performance.now() - openStart
}
const atReady = engine.stats()

// First read of each shape's latest offset after the restore, in random order: the miss path
// for a lazy open (the eager open has already filled the table: these are hits).
const order = shuffle([...handles], prng(Number(seedText)))
const latencies = new Float64Array(order.length)
for (let i = 0; i < order.length; i++) {
  const start = performance.now()
  engine.fetchLatestOffset(order[i] as string)
  latencies[i] = performance.now() - start
}
const micros = Array.from(latencies, (ms) => ms * 1000)
await engine.close()

process.stdout.write(
  `${JSON.stringify({
    mode,
    runtime: runtimeName,
    shapes: handles.length,
    readyMs,
    readsPerShapeAtReady: (atReady.catalogRecordsRead + atReady.readPathMisses) / handles.length,
    partitionsOpenAtReady: atReady.partitionsOpen,
    firstReadP50Us: quantile(micros, 0.5),
    firstReadP99Us: quantile(micros, 0.99),
    firstReadMaxUs: quantile(micros, 1),
  })}\n`,
)
