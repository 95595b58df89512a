import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { ensureSeed } from '../seed.ts'
import { type RuntimeName, runProbeProcess } from './workload.ts'

/**
 * Scale: the read path from 10,000 to 1,000,000 shapes in the catalog (each with a one-row
 * snapshot and a one-row transaction; seeded once per size, with a progress bar, and reused).
 * Per size and runtime, one fresh process (scale-probe.ts): open -> ready; the first read of
 * every shape, in random order (each a miss: p50/p99); a second read of random shapes (a table
 * hit; on the worker runtime, shapes beyond the table's capacity read LMDB again); and the
 * anonymous resident memory the touched shapes added, per shape. By name only: seeding the
 * 1,000,000 shapes takes minutes and about 2 GB the first time.
 */
const SIZES = [10_000, 100_000, 1_000_000] as const
const RUNTIMES_MEASURED: readonly RuntimeName[] = ['inline', 'workers2']
const SPEC = { snapshotRows: 1, transactions: 1, rowsPerTransaction: 1 } as const
const probe = fileURLToPath(new URL('./scale-probe.ts', import.meta.url))

interface ProbeResult {
  readonly readyMs: number
  readonly firstReadP50Us: number
  readonly firstReadP99Us: number
  readonly againNs: number
  readonly anonBytesPerShape: number
}

export async function scale(context: ScenarioContext): Promise<ScenarioResult> {
  const results = new Map<string, ProbeResult>()
  for (const shapes of SIZES) {
    const seed = await ensureSeed(join(context.dataDir, `scale-${shapes}`), { shapes, ...SPEC })
    for (const runtime of RUNTIMES_MEASURED) results.set(`${runtime}_${sizeName(shapes)}`, runProbe(runtime, seed.dir))
  }
  const at = (runtime: RuntimeName, shapes: number) => results.get(`${runtime}_${sizeName(shapes)}`) as ProbeResult
  const metrics: Metric[] = []
  const ratios: Ratio[] = []
  const [smallest, , largest] = SIZES
  for (const runtime of RUNTIMES_MEASURED) {
    for (const shapes of SIZES) {
      const r = at(runtime, shapes)
      const name = `${runtime}_${sizeName(shapes)}`
      const goal = shapes === largest
      metrics.push(
        metric(`open_ms_${name}`, r.readyMs, 'ms', goal ? '<= 20' : undefined),
        metric(`first_read_p50_us_${name}`, r.firstReadP50Us, 'µs'),
        metric(`first_read_p99_us_${name}`, r.firstReadP99Us, 'µs'),
        metric(`read_again_ns_${name}`, r.againNs, 'ns'),
        metric(`anon_bytes_per_shape_${name}`, r.anonBytesPerShape, 'B', goal ? '<= 256' : undefined),
      )
    }
    ratios.push(
      ratio(`open_1m_over_10k_${runtime}`, at(runtime, largest).readyMs / at(runtime, smallest).readyMs, '<= 2'),
    )
  }
  return {
    scenario: 'scale',
    parameters: { sizes: SIZES, ...SPEC, processesPerPoint: 1, order: 'random' },
    metrics,
    ratios,
    series: RUNTIMES_MEASURED.flatMap((runtime) => [
      {
        name: `${runtime} open`,
        x: [...SIZES],
        y: SIZES.map((shapes) => at(runtime, shapes).readyMs),
        xLabel: 'shapes in the catalog',
        yLabel: 'ms open -> ready',
      },
      {
        name: `${runtime} bytes per shape`,
        x: [...SIZES],
        y: SIZES.map((shapes) => at(runtime, shapes).anonBytesPerShape),
        xLabel: 'shapes touched (all of them)',
        yLabel: 'anonymous resident bytes per touched shape',
      },
    ]),
  }
}

function runProbe(runtime: RuntimeName, dir: string): ProbeResult {
  return runProbeProcess(probe, [runtime, dir], ['--expose-gc'])
}

/** 1000000 -> '1m', 10000 -> '10k'. */
function sizeName(n: number): string {
  return n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}m` : `${n / 1000}k`
}
