// Measuring for the gate: the base revision checked out in a temporary git worktree with its own
// dependencies, then every probe run in fresh processes, base and head back to back (the order
// alternating pair by pair), so both sides share every condition but the code.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchRoot, repoRoot } from '../paths.ts'
import { failingFirstRound, type GateConfig, type PairSample, type ProbeOutcome, undecided } from './judge.ts'

/** A checkout whose engine the probes measure, and where its data goes. */
export interface Side {
  readonly root: string
  readonly dataDir: string
}

const PROBE_CLI = fileURLToPath(new URL('./probe-cli.ts', import.meta.url))
/** A probe that takes longer is hung (they take 1-4 s). */
const PROBE_TIMEOUT_MS = 120_000

/** Runs one probe (or the seed) in a fresh process against `side`'s engine. */
export function runProbe(side: Side, probe: string): ProbeOutcome {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', PROBE_CLI, probe, '--root', side.root, '--data', side.dataDir],
    {
      cwd: benchRoot,
      encoding: 'utf8',
      timeout: PROBE_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    },
  )
  if (run.status !== 0) {
    const why = run.error?.message ?? `exit ${run.status ?? run.signal}`
    return { ok: false, error: `${why}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}` }
  }
  if (probe === 'seed') return { ok: true, result: { timed: {}, counters: {} } }
  try {
    return { ok: true, result: JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') }
  } catch {
    return { ok: false, error: `no result line in its output: ${run.stdout.slice(-200)}` }
  }
}

function git(args: readonly string[]): string {
  const run = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`git ${args.join(' ')}: ${run.stderr.trim()}`)
  return run.stdout.trim()
}

/**
 * Why `ref` cannot be a base at all, or undefined if it names a commit. A ref this repository
 * lacks is a mistake (a mistyped .ci/gate-base) unless the clone is shallow: then the base may
 * simply not have been fetched, and the gate falls back to the committed baseline.
 */
export function unknownBase(ref: string): string | undefined {
  const resolves = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: repoRoot })
  if (resolves.status === 0) return undefined
  if (git(['rev-parse', '--is-shallow-repository']) === 'true') return undefined
  return `--base ${ref} names no commit of this repository (a full clone): mistyped?`
}

/** A file's text at `commit`, or undefined if the commit has no such file. */
export function fileAtCommit(commit: string, path: string): string | undefined {
  const run = spawnSync('git', ['show', `${commit}:${path}`], { cwd: repoRoot, encoding: 'utf8' })
  return run.status === 0 ? run.stdout : undefined
}

export interface BaseCheckout {
  readonly commit: string
  readonly side: Side
  readonly remove: () => void
}

/**
 * Checks `ref` out beside the repository and installs its dependencies. Throws with the reason
 * when it cannot (a shallow clone without the commit, a failed install): the caller falls back,
 * loudly, to the committed baseline.
 */
export function checkoutBase(ref: string, dataDir: string): BaseCheckout {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`])
  const root = mkdtempSync(join(tmpdir(), 'shapestore-base-'))
  const remove = () => {
    spawnSync('git', ['worktree', 'remove', '--force', root], { cwd: repoRoot })
    rmSync(root, { recursive: true, force: true })
  }
  try {
    git(['worktree', 'add', '--detach', root, commit])
    const install = spawnSync('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    if (install.status !== 0) throw new Error(`pnpm install in the base checkout exited with ${install.status}`)
  } catch (error) {
    remove()
    throw error
  }
  return { commit, side: { root, dataDir }, remove }
}

export interface MeasureOptions {
  readonly head: Side
  /** Absent: head only (no A/B; the committed baseline is all there is to compare with). */
  readonly base?: Side | undefined
  readonly probes: readonly string[]
  readonly pairs: number
  /** Numbers the pairs from here (extra pairs after a first round). */
  readonly firstPair?: number
  /** The confirmation round: the samples are marked so the verdict reads them apart. */
  readonly confirming?: boolean
  readonly onSample?: (sample: PairSample) => void
}

/** Seeds each side's store with its own engine: a failure is the side's failure. */
export function seedSides(sides: readonly Side[]): void {
  for (const side of sides) {
    rmSync(side.dataDir, { recursive: true, force: true })
    const seeded = runProbe(side, 'seed')
    if (!seeded.ok) throw new Error(`seeding ${side.root} failed: ${seeded.error}`)
  }
}

/** `pairs` pairs of every probe; within a pair base and head run back to back, ABBA across pairs. */
export function measurePairs(options: MeasureOptions): PairSample[] {
  const samples: PairSample[] = []
  const first = options.firstPair ?? 0
  for (let pair = first; pair < first + options.pairs; pair++) {
    for (const probe of options.probes) {
      const { base } = options
      let sample: PairSample
      if (base === undefined) {
        sample = { probe, pair, head: runProbe(options.head, probe) }
      } else if (pair % 2 === 0) {
        const b = runProbe(base, probe)
        sample = { probe, pair, base: b, head: runProbe(options.head, probe) }
      } else {
        const h = runProbe(options.head, probe)
        sample = { probe, pair, head: h, base: runProbe(base, probe) }
      }
      if (options.confirming === true) sample = { ...sample, confirming: true }
      samples.push(sample)
      options.onSample?.(sample)
    }
  }
  return samples
}

/** The probes that measure any of `figures` (from the head's results). */
function probesOf(samples: readonly PairSample[], figures: readonly string[]): string[] {
  const measures = ({ head }: PairSample) => head.ok && figures.some((f) => f in head.result.timed)
  return [...new Set(samples.filter(measures).map((s) => s.probe))]
}

/**
 * The A/B's samples: `pairs` pairs of every probe; while some figure is slower than the minimum
 * effect but not yet significant, 4 more pairs of the probes behind it, up to `maxPairs`; then,
 * for a figure that fails, `confirmPairs` fresh pairs of its probe (the confirmation round,
 * judged on its own: judge.ts).
 */
export function abSamples(
  options: Omit<MeasureOptions, 'firstPair' | 'confirming'> & {
    readonly base: Side
    readonly maxPairs: number
    readonly confirmPairs: number
    readonly config: GateConfig
  },
): PairSample[] {
  const samples = measurePairs(options)
  const record = () => ({ baseCommit: '', baseFailures: {}, partial: true, samples })
  let done = options.pairs
  while (done < options.maxPairs) {
    const figures = undecided(options.config, record())
    if (figures.length === 0) break
    const again = probesOf(samples, figures)
    // Up to maxPairs, not past it (10 + 4 + 4 + 4 made 22).
    const more = Math.min(4, options.maxPairs - done)
    console.log(`undecided: ${figures.join(', ')}: ${more} more pairs of ${again.join(', ')}`)
    samples.push(...measurePairs({ ...options, probes: again, pairs: more, firstPair: done }))
    done += more
  }
  const failing = failingFirstRound(options.config, record())
  if (failing.length > 0 && options.confirmPairs > 0) {
    const again = probesOf(samples, failing)
    console.log(`failing: ${failing.join(', ')}: ${options.confirmPairs} fresh pairs of ${again.join(', ')} to confirm`)
    const confirm = { probes: again, pairs: options.confirmPairs, firstPair: done }
    samples.push(...measurePairs({ ...options, ...confirm, confirming: true }))
  }
  return samples
}
