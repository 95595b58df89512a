import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openEngine } from '@shapestore/engine'
import { type Metric, metric, type Ratio, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { median } from '../stats.ts'
import {
  createShapes,
  ROW_BYTES,
  ROWS_PER_TRANSACTION,
  type RuntimeName,
  removeDir,
  runProbeProcess,
  scratchDir,
} from './workload.ts'
import { FANOUTS, type Layout, PARTITIONS, REPEATS } from './write-fanout-call.ts'

/**
 * Write fanout: one source transaction (50 rows of 200 bytes) into N shapes with one
 * appendToLogs call, the SAME items array for every shape, timed from the call until it
 * resolves (every shape's part committed durably with its keys published: every shape's latest
 * offset is the transaction's, which is checked after each call). Median of REPEATS calls per
 * N and probe process, inline and on 2 writer threads. Baseline in the same run: the same N
 * shapes each given its own copy of the items (a distinct array per shape), which turns off the
 * shared-record layout (one stored copy per partition plus a 16-byte reference per shape), so
 * `distinct_over_shared` is what the shared record buys. Shared and distinct calls alternate
 * (and swap order every repeat) so drift hits both alike.
 *
 * Each runtime runs in its own fresh process on its own copy of the seeded shapes, ROUNDS times,
 * in alternating order (inline, workers2, workers2, inline): a server runs one runtime, and a
 * fanout slows as the store grows (measured: 14 -> 24 ms at 1,500 shapes over 240 calls), so
 * the runtime that ran second on the same directory in the same process measured 1.4-2x slower
 * than in a process of its own, whichever it was.
 *
 * Not a tinybench task: on the worker runtime the work runs on other threads.
 */
const probe = fileURLToPath(new URL('./write-fanout-probe.ts', import.meta.url))
const ROUNDS = 2
const RUNTIME_ORDER: readonly RuntimeName[] = ['inline', 'workers2']
/** The fanout docs/design/ARCHITECTURE.md states its goal for: visible in <= 50 ms at 1,500 shapes. */
const GOAL_SHAPES = 1_500

export async function writeFanout(context: ScenarioContext): Promise<ScenarioResult> {
  const root = scratchDir(context, 'write-fanout')
  const seeded = join(root, 'seeded')
  const timings = new Map<string, number[]>()
  try {
    const creator = await openEngine({ dir: seeded, partitions: PARTITIONS })
    try {
      writeFileSync(join(seeded, 'handles.json'), JSON.stringify(await createShapes(creator, Math.max(...FANOUTS))))
    } finally {
      await creator.close()
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? RUNTIME_ORDER : [...RUNTIME_ORDER].reverse()
      for (const runtime of order) {
        const dir = join(root, `${runtime}-${round}`)
        cpSync(seeded, dir, { recursive: true })
        for (const [key, ms] of Object.entries(runProbe(runtime, dir))) {
          timings.set(`${runtime}_${key}`, [...(timings.get(`${runtime}_${key}`) ?? []), ...ms])
        }
        removeDir(dir)
      }
    }
  } finally {
    removeDir(root)
  }

  const ms = (runtime: RuntimeName, layout: Layout, n: number) => median(timings.get(`${runtime}_${layout}_${n}`) ?? [])
  const metrics: Metric[] = []
  const ratios: Ratio[] = []
  for (const runtime of RUNTIME_ORDER) {
    for (const n of FANOUTS) {
      metrics.push(
        metric(`${runtime}_shared_${n}_ms`, ms(runtime, 'shared', n), 'ms', n === GOAL_SHAPES ? '<= 50' : undefined),
        metric(`${runtime}_distinct_${n}_ms`, ms(runtime, 'distinct', n), 'ms'),
      )
    }
  }
  for (const runtime of RUNTIME_ORDER) {
    for (const n of FANOUTS) {
      ratios.push(ratio(`distinct_over_shared_${n}_${runtime}`, ms(runtime, 'distinct', n) / ms(runtime, 'shared', n)))
    }
  }
  // The threads must not cost: the worker runtime's time over the inline one's, same run.
  for (const kind of ['shared', 'distinct'] as const) {
    for (const n of FANOUTS) {
      const goal = n === GOAL_SHAPES ? '<= 1' : undefined
      ratios.push(ratio(`workers2_over_inline_${kind}_${n}`, ms('workers2', kind, n) / ms('inline', kind, n), goal))
    }
  }
  return {
    scenario: 'write-fanout',
    parameters: {
      fanouts: FANOUTS,
      partitions: PARTITIONS,
      rowBytes: ROW_BYTES,
      rowsPerTransaction: ROWS_PER_TRANSACTION,
      repeats: REPEATS,
      rounds: ROUNDS,
      timed: 'appendToLogs call -> resolve (durable, every shape visible)',
      baseline: 'distinct: a copy of the items per shape (no shared record)',
    },
    metrics,
    ratios,
    series: RUNTIME_ORDER.flatMap((runtime) =>
      (['shared', 'distinct'] as const).map((layout) => ({
        name: `${runtime} ${layout}`,
        x: [...FANOUTS],
        y: FANOUTS.map((n) => ms(runtime, layout, n)),
        xLabel: 'shapes written (one appendToLogs)',
        yLabel: 'ms until every shape visible',
      })),
    ),
  }
}

function runProbe(runtime: RuntimeName, dir: string): Record<string, number[]> {
  return runProbeProcess(probe, [runtime, dir])
}
