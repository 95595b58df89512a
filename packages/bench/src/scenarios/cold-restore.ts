import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { metric, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { ensureSeed, type SeedSpec } from '../seed.ts'
import { median } from '../stats.ts'
import { type RuntimeName, runProbeProcess } from './workload.ts'

/**
 * Cold restore: open -> ready for N shapes (50,000 by default), lazy (the product: nothing per
 * shape is read; on the inline and on the worker runtime) against eager (every shape's definition, snapshot flag and latest offset read
 * at boot, as Electric did before PR #3572); open time at N/10 vs N shapes (flatness); the first
 * read of each shape's latest offset after the restore (the miss path); reads per shape at open.
 * Each open is a fresh process; figures are medians over the runs.
 */
const probe = fileURLToPath(new URL('./cold-restore-probe.ts', import.meta.url))
const SPEC = { snapshotRows: 3, transactions: 3, rowsPerTransaction: 5 } as const
const LAZY_RUNS = 7
const EAGER_RUNS = 3

interface ProbeResult {
  readonly readyMs: number
  readonly readsPerShapeAtReady: number
  readonly partitionsOpenAtReady: number
  readonly firstReadP50Us: number
  readonly firstReadP99Us: number
  readonly firstReadMaxUs: number
}

export async function coldRestore(context: ScenarioContext): Promise<ScenarioResult> {
  const shapes = context.shapes ?? 50_000
  const small = Math.max(1, Math.round(shapes / 10))
  const large = await ensureSeed(join(context.dataDir, `cold-restore-${shapes}`), {
    shapes,
    ...SPEC,
  } satisfies SeedSpec)
  const smallSeed = await ensureSeed(join(context.dataDir, `cold-restore-${small}`), { shapes: small, ...SPEC })

  const lazy = runs('lazy', large.dir, LAZY_RUNS, 'inline')
  const eager = runs('eager', large.dir, EAGER_RUNS, 'inline')
  const lazySmall = runs('lazy', smallSeed.dir, LAZY_RUNS, 'inline')
  // The product: the worker runtime (its shared key table is allocated at open; no thread starts).
  const lazyWorkers = runs('lazy', large.dir, LAZY_RUNS, 'workers2')

  const lazyReadyMs = median(lazy.map((r) => r.readyMs))
  const eagerReadyMs = median(eager.map((r) => r.readyMs))
  const lazySmallReadyMs = median(lazySmall.map((r) => r.readyMs))
  return {
    scenario: 'cold-restore',
    parameters: {
      shapes,
      smallShapes: small,
      ...SPEC,
      lazyRuns: LAZY_RUNS,
      eagerRuns: EAGER_RUNS,
      seedReused: large.reused,
    },
    metrics: [
      metric('open_ms', lazyReadyMs, 'ms', '<= 20'),
      metric('eager_open_ms', eagerReadyMs, 'ms'),
      metric(`open_ms_${sizeName(small)}`, lazySmallReadyMs, 'ms'),
      metric('open_ms_workers', median(lazyWorkers.map((r) => r.readyMs)), 'ms', '<= 20'),
      metric('first_read_p50_us', median(lazy.map((r) => r.firstReadP50Us)), 'µs'),
      metric('first_read_p99_us', median(lazy.map((r) => r.firstReadP99Us)), 'µs', '<= 20'),
      metric('first_read_max_us', median(lazy.map((r) => r.firstReadMaxUs)), 'µs'),
      metric('first_read_p50_us_workers', median(lazyWorkers.map((r) => r.firstReadP50Us)), 'µs'),
      metric('first_read_p99_us_workers', median(lazyWorkers.map((r) => r.firstReadP99Us)), 'µs', '<= 20'),
      metric('reads_per_shape_at_open', median(lazy.map((r) => r.readsPerShapeAtReady)), 'reads'),
      metric('eager_reads_per_shape_at_open', median(eager.map((r) => r.readsPerShapeAtReady)), 'reads'),
      metric('partitions_open_at_open', median(lazy.map((r) => r.partitionsOpenAtReady)), 'envs'),
    ],
    ratios: [
      ratio('eager_over_lazy', eagerReadyMs / lazyReadyMs, '>= 50'),
      // The name carries the sizes (open_50k_over_5k by default), so a run with --shapes
      // never passes for the default experiment.
      ratio(`open_${sizeName(shapes)}_over_${sizeName(small)}`, lazyReadyMs / lazySmallReadyMs, '<= 2'),
    ],
  }
}

function runs(mode: 'lazy' | 'eager', dir: string, count: number, runtime: RuntimeName): ProbeResult[] {
  const results: ProbeResult[] = []
  for (let i = 0; i < count; i++) {
    results.push(runProbeProcess<ProbeResult>(probe, [mode, dir, String(1000 + i), runtime]))
  }
  return results
}

/** 50000 -> '50k', 5000 -> '5k', 1234 -> '1234': the sizes as the ratio names carry them. */
function sizeName(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n)
}
