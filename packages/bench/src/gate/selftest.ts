// `pnpm bench:gate:selftest [--runs N] [--paths a,b] [--pairs P]`: the gate's power, measured.
// Two worktrees of HEAD; for each hot path the gate's A/B runs N times with a known slowdown
// patched into one of them (detections), then N times on the unchanged pair (false alarms). A
// slowdown is a busy loop inserted into the engine's code at the path, sized to 25 % of the
// path's cost in the committed baseline, from a calibration of the loop on this machine.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { commandLine } from '@shapestore/engine/command-line'
import { defaultDataDir, defaultResultsDir } from '../paths.ts'
import { abSamples, type BaseCheckout, checkoutBase, seedSides } from './ab.ts'
import { gateConfig } from './config.ts'
import { type Baseline, judge, type PairSample, type ProbeOutcome } from './judge.ts'
import { comparePaired } from './paired.ts'
import { PROBES } from './probes.ts'

const SLOWDOWN = 0.25

/** Where a path's slowdown goes: after the line matching `next` that follows the line matching `at`. */
interface Patch {
  readonly file: string
  readonly at: RegExp
  readonly next?: RegExp
  /** The figure whose cost the loop adds 25 % of, and the probes that measure it. */
  readonly figure: string
  readonly probes: readonly string[]
  /** The figure's value as ns of work per call at the patched line (× `perItem` items where given). */
  readonly nsPerCall: (value: number) => number
  readonly perItem?: string
}

const PATCHES: Readonly<Record<string, Patch>> = {
  'hit-inline': {
    file: 'packages/engine/src/read-path/read-path-table.ts',
    at: /^ {2}get\(handle: ShapeHandle\): ReadPathKeys \| undefined \{$/,
    figure: 'hit_inline_ns',
    probes: ['hit-inline'],
    nsPerCall: (ns) => ns,
  },
  'hit-shared': {
    file: 'packages/workers/src/shared-table/shared-table.ts',
    at: /^ {2}get\(handle: ShapeHandle\): ReadPathKeys \| undefined \{$/,
    figure: 'hit_shared_ns',
    probes: ['hit-shared'],
    nsPerCall: (ns) => ns,
  },
  miss: {
    file: 'packages/engine/src/read-path/read-path.ts',
    at: /^ {2}#fill\(handle: ShapeHandle\): ReadPathKeys \{$/,
    figure: 'miss_us',
    probes: ['restore'],
    nsPerCall: (us) => us * 1e3,
  },
  open: {
    file: 'packages/engine/src/engine.ts',
    at: /^export async function openEngine\(/,
    figure: 'open_ms',
    probes: ['restore'],
    nsPerCall: (ms) => ms * 1e6,
  },
  'append-inline': {
    file: 'packages/engine/src/log-store/transaction-encoder.ts',
    at: /^export function encodeTransaction\(/,
    next: /^\): EncodedTransaction \{$/,
    figure: 'append_inline_cpu_ns_per_entry',
    probes: ['append-inline'],
    nsPerCall: (ns) => ns,
    perItem: 'items.length',
  },
  'append-workers': {
    file: 'packages/engine/src/log-store/transaction-encoder.ts',
    at: /^export function encodeTransaction\(/,
    next: /^\): EncodedTransaction \{$/,
    figure: 'append_workers_cpu_ns_per_entry',
    probes: ['append-workers'],
    nsPerCall: (ns) => ns,
    perItem: 'items.length',
  },
  fanout: {
    file: 'packages/engine/src/engine.ts',
    at: /^ {2}appendToLogs\($/,
    next: /^ {4}return this\.#guard\(\(\) => \{$/,
    figure: 'fanout_ms',
    probes: ['fanout'],
    nsPerCall: (ms) => ms * 1e6,
  },
  wake: {
    file: 'packages/engine/src/live/shape-waiters.ts',
    at: /^ {2}notify\(handle: ShapeHandle\): void \{$/,
    figure: 'wake_ms',
    probes: ['wake'],
    nsPerCall: (ms) => ms * 1e6,
  },
  'log-read': {
    file: 'packages/engine/src/engine.ts',
    at: /^ {2}getLogJson\(handle: ShapeHandle/,
    figure: 'log_read_gbps',
    probes: ['log-read'],
    // The probe reads a ~1 MiB chunk: ns per read = bytes / (GB/s).
    nsPerCall: (gbps) => (1.05 * 1024 * 1024) / gbps,
  },
}

const USAGE = `usage: pnpm bench:gate:selftest [--runs N] [--paths a,b] [--pairs P] [--skip-unchanged]
  For each hot path (${Object.keys(PATCHES).join(', ')}), N gate A/Bs (default 10) with a 25 %
  slowdown patched in, then N on the unchanged tree (none with --skip-unchanged; --paths= runs
  only those). Writes results/gate/selftest.txt as it goes.`

const { values } = commandLine(USAGE, {
  options: {
    runs: { type: 'string', default: '10' },
    paths: { type: 'string' },
    pairs: { type: 'string' },
    'skip-unchanged': { type: 'boolean', default: false },
  },
})
const runs = Number(values.runs)
const pairs = values.pairs === undefined ? gateConfig.pairs : Number(values.pairs)
const paths = values.paths === undefined ? Object.keys(PATCHES) : values.paths.split(',').filter((p) => p !== '')
const unknownPaths = paths.filter((p) => !(p in PATCHES))
if (unknownPaths.length > 0 || !Number.isSafeInteger(runs) || runs < 1) {
  console.error(
    `${unknownPaths.length > 0 ? `unknown path ${unknownPaths[0]}` : '--runs must be a positive integer'}\n\n${USAGE}`,
  )
  process.exit(2)
}

/** Busy-loop iterations per ns on this machine (the loop the patches insert). */
function calibrate(): number {
  const g = globalThis as { __burn?: number }
  let x = 1
  const n = 200_000_000
  for (let warm = 0; warm < 3; warm++) for (let i = 0; i < 1e6; i++) x = (Math.imul(x, 1103515245) + 12345) | 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0
  g.__burn = x
  return n / Number(process.hrtime.bigint() - start)
}

function applyPatch(root: string, patch: Patch, iterations: number): void {
  const path = join(root, patch.file)
  const lines = readFileSync(path, 'utf8').split('\n')
  let i = lines.findIndex((l) => patch.at.test(l))
  if (i >= 0 && patch.next !== undefined) {
    const next = patch.next
    const j = lines.slice(i).findIndex((l) => next.test(l))
    i = j < 0 ? -1 : i + j
  }
  if (i < 0) throw new Error(`selftest: the anchor of ${patch.file} is gone (${patch.at}): update PATCHES`)
  const count = patch.perItem === undefined ? `${iterations}` : `${iterations} * ${patch.perItem}`
  lines.splice(
    i + 1,
    0,
    `  { const g = globalThis as { __burn?: number }; let x = g.__burn ?? 1; for (let i = 0; i < ${count}; i++) x = (Math.imul(x, 1103515245) + 12345) | 0; g.__burn = x } // selftest slowdown`,
  )
  writeFileSync(path, lines.join('\n'))
}

/** Pairs of the short A/B that sizes a patch's loop. */
const SCALING_PAIRS = 6

/** Head cost over base cost of the patch's figure, the median over the pairs. */
function measuredSlowdown(samples: readonly PairSample[], patch: Patch): number {
  const value = (o: ProbeOutcome | undefined) =>
    o?.ok ? (o.result.timed[patch.figure]?.value ?? Number.NaN) : Number.NaN
  const complete = samples.filter((s) => Number.isFinite(value(s.base)) && Number.isFinite(value(s.head)))
  const better = baseline.timed[patch.figure]?.better ?? 'lower'
  return comparePaired(
    complete.map((s) => value(s.base)),
    complete.map((s) => value(s.head)),
    better,
  ).ratio
}

const baseline = JSON.parse(readFileSync(new URL('../../gate/baseline.json', import.meta.url), 'utf8')) as Baseline
const perNs = calibrate()
console.log(`busy loop: ${perNs.toFixed(2)} iterations/ns`)

const dataDir = join(defaultDataDir, 'gate-selftest')
let base: BaseCheckout | undefined
let head: BaseCheckout | undefined
const lines: string[] = []
const reportPath = join(defaultResultsDir, 'gate', 'selftest.txt')
/** A finished line of the report, written at once: a long selftest that is stopped keeps what it found. */
function note(line: string): void {
  lines.push(line)
  writeFileSync(reportPath, `${['selftest | result | detail', ...lines].join('\n')}\n`)
}
try {
  base = checkoutBase('HEAD', join(dataDir, 'base'))
  head = checkoutBase('HEAD', join(dataDir, 'head'))
  // Seeded once: a patch changes how fast the engine is, not what the seed holds.
  seedSides([base.side, head.side])
  const gateRun = (probes: readonly string[], pairsPerProbe = pairs) => {
    const samples = abSamples({
      head: (head as BaseCheckout).side,
      base: (base as BaseCheckout).side,
      probes,
      pairs: pairsPerProbe,
      maxPairs: pairsPerProbe === pairs ? gateConfig.maxPairs : pairsPerProbe,
      // The calibration A/Bs only measure the loop's cost: no confirmation round.
      confirmPairs: pairsPerProbe === pairs ? gateConfig.confirmPairs : 0,
      config: gateConfig,
    })
    return {
      samples,
      verdict: judge(gateConfig, { baseCommit: 'HEAD', baseFailures: {}, partial: true, samples }, baseline),
    }
  }
  for (const name of paths) {
    const patch = PATCHES[name] as Patch
    const value = baseline.timed[patch.figure]?.value
    if (value === undefined) throw new Error(`no committed baseline for ${patch.figure}`)
    let iterations = Math.max(1, Math.round(SLOWDOWN * patch.nsPerCall(value) * perNs))
    // An independent loop partly overlaps the work around it (out-of-order execution), so what it
    // adds is measured, and the loop rescaled to 25 %, twice.
    for (let step = 0; step < 2; step++) {
      spawnSync('git', ['checkout', '--', '.'], { cwd: head.side.root })
      applyPatch(head.side.root, patch, iterations)
      const added = measuredSlowdown(gateRun(patch.probes, SCALING_PAIRS).samples, patch) - 1
      const scaled = Math.round(iterations * Math.min(8, SLOWDOWN / Math.max(added, 0.02)))
      console.log(`${name}: ${iterations} iterations added ${(added * 100).toFixed(1)}%; now ${scaled}`)
      iterations = Math.max(1, scaled)
    }
    spawnSync('git', ['checkout', '--', '.'], { cwd: head.side.root })
    applyPatch(head.side.root, patch, iterations)
    let caught = 0
    const ratios: string[] = []
    for (let r = 0; r < runs; r++) {
      const { samples, verdict } = gateRun(patch.probes)
      const row = verdict.rows.find((x) => x.kind === 'a/b' && x.figure === patch.figure)
      if (row?.verdict === 'FAIL') caught++
      // The slowdown the patch really made, as the A/B measured it.
      ratios.push(`${((measuredSlowdown(samples, patch) - 1) * 100).toFixed(0)}%`)
      console.log(
        `${name} run ${r + 1}: ${row?.verdict ?? 'no row'} (${row?.changePct?.toFixed(1)}%, ${row?.confidence})`,
      )
    }
    note(
      `${name} (${patch.figure}, ${iterations} loop iterations) | ${caught} of ${runs} runs caught it | measured slowdowns ${ratios.join(' ')}`,
    )
  }
  if (!values['skip-unchanged']) {
    spawnSync('git', ['checkout', '--', '.'], { cwd: head.side.root }) // the last path's patch goes
    let alarms = 0
    const failedFigures: string[] = []
    for (let r = 0; r < runs; r++) {
      const { verdict } = gateRun(Object.keys(PROBES))
      const failed = verdict.rows.filter((row) => row.verdict === 'FAIL')
      if (failed.length > 0) alarms++
      failedFigures.push(...failed.map((row) => `${row.kind} ${row.figure}`))
      console.log(
        `unchanged run ${r + 1}: ${failed.length === 0 ? 'pass' : `FAIL ${failed.map((x) => x.figure).join(', ')}`}`,
      )
    }
    note(`unchanged tree | ${alarms} of ${runs} runs failed (false alarms) | ${failedFigures.join(', ') || '-'}`)
  }
} finally {
  if (head !== undefined) spawnSync('git', ['checkout', '--', '.'], { cwd: head.side.root })
  head?.remove()
  base?.remove()
}
console.log(`\n${readFileSync(reportPath, 'utf8')}`)
