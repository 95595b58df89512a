// A/B against a base revision: the base is checked out in a temporary git worktree with its own
// dependencies, then both revisions measure the gate suite in fresh processes, interleaved
// (ABBA…), on this machine, now: the comparison to trust most, since both sides share every
// condition but the code.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../paths.ts'

export interface AbOptions {
  readonly ref: string
  /** Measurements per side. */
  readonly runs: number
  readonly resultsDir: string
  readonly dataDir: string
  /** The `--only` scenario list, passed on to both sides. */
  readonly only: string | undefined
}

export interface AbRuns {
  readonly head: unknown[]
  readonly base: unknown[]
  readonly baseCommit: string
}

/** The command line that measures the gate suite once in a checkout, writing `json`. */
function measureOnce(checkout: string, json: string, dataDir: string, only: string | undefined): void {
  const bench = join(checkout, 'packages', 'bench')
  const args = ['--import', 'tsx', 'src/gate/cli.ts', '--once', '--json', json, '--data', dataDir]
  const run = spawnSync(process.execPath, only === undefined ? args : [...args, '--only', only], {
    cwd: bench,
    stdio: 'inherit',
  })
  if (run.status !== 0) throw new Error(`measuring ${checkout} exited with ${run.status ?? run.signal}`)
}

function git(args: readonly string[], cwd = repoRoot): string {
  const run = spawnSync('git', args, { cwd, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`git ${args.join(' ')}: ${run.stderr.trim()}`)
  return run.stdout.trim()
}

export function abRuns(options: AbOptions): AbRuns {
  const baseCommit = git(['rev-parse', '--verify', `${options.ref}^{commit}`])
  const checkout = mkdtempSync(join(tmpdir(), 'shapestore-base-'))
  git(['worktree', 'add', '--detach', checkout, baseCommit])
  try {
    const manifest = JSON.parse(readFileSync(join(checkout, 'packages', 'bench', 'package.json'), 'utf8'))
    if (
      manifest.scripts?.['bench:gate'] === undefined ||
      !existsSync(join(checkout, 'packages/bench/src/gate/measure.ts'))
    ) {
      throw new Error(`${options.ref} (${baseCommit.slice(0, 10)}) has no gate suite to measure: pick a later base`)
    }
    const install = spawnSync('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], {
      cwd: checkout,
      stdio: 'inherit',
    })
    if (install.status !== 0) throw new Error(`pnpm install in the base checkout exited with ${install.status}`)

    const head: unknown[] = []
    const base: unknown[] = []
    const sides = {
      head: { checkout: repoRoot, dataDir: options.dataDir, out: head },
      base: { checkout, dataDir: `${options.dataDir.replace(/\/$/, '')}-base`, out: base },
    }
    for (let i = 0; i < options.runs; i++) {
      // ABBA: alternate which side goes first, so a drift in machine speed hits both equally.
      const order = i % 2 === 0 ? (['base', 'head'] as const) : (['head', 'base'] as const)
      for (const name of order) {
        const side = sides[name]
        const json = join(options.resultsDir, `ab-${name}-${i + 1}.json`)
        console.log(
          `\n== ${name} (${name === 'base' ? baseCommit.slice(0, 10) : 'working tree'}), run ${i + 1} of ${options.runs}`,
        )
        measureOnce(side.checkout, json, side.dataDir, options.only)
        side.out.push(JSON.parse(readFileSync(json, 'utf8')))
      }
    }
    return { head, base, baseCommit }
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', checkout], { cwd: repoRoot })
    rmSync(checkout, { recursive: true, force: true })
  }
}
