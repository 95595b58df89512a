// `pnpm bench:gate`: the CI performance regression gate (packages/bench/README.md); USAGE below.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandLine } from '@shapestore/engine/command-line'
import { defaultDataDir, defaultResultsDir, repoRoot } from '../paths.ts'
import {
  abSamples,
  type BaseCheckout,
  checkoutBase,
  fileAtCommit,
  measurePairs,
  type Side,
  seedSides,
  unknownBase,
} from './ab.ts'
import { gateConfig } from './config.ts'
import { DECLARED_CHANGES_FILE, newDeclarations, parseDeclarations, readDeclarationsFile } from './declared.ts'
import { type GateRecord, judge, type PairSample } from './judge.ts'
import { coefficientOfVariation, median } from './paired.ts'
import { PROBES, type Timed } from './probes.ts'
import { renderTable } from './table.ts'

const baselinePath = fileURLToPath(new URL('../../gate/baseline.json', import.meta.url))

const USAGE = `usage: pnpm bench:gate [--base REF | --no-base | --record N | --judge FILE] [--only a,b] [--pairs N]
                          [--dir DIR] [--json FILE] [--baseline FILE]
  --base REF       A/B: REF (default HEAD) in a temporary worktree against this working tree,
                   every probe in --pairs (default ${gateConfig.pairs}) pairs of fresh processes,
                   interleaved; plus exact counters and the coarse check against the baseline
  --no-base        head only, against the committed baseline
  --record N       N head-only runs per probe: writes gate/baseline.json and prints each
                   figure's noise (CV across processes)
  --judge FILE     judge a record written by --json (synthetic ones in tests)
  --only a,b       these probes only (${Object.keys(PROBES).join(', ')})
  --dir DIR        where the probes' seeded data lives (default ${defaultDataDir})
Exit 0 only on a passing verdict; 1 on a regression or anything that could not be measured or
compared (fail closed); 2 on bad arguments.`

const { values } = commandLine(USAGE, {
  options: {
    base: { type: 'string', default: 'HEAD' },
    'no-base': { type: 'boolean', default: false },
    pairs: { type: 'string' },
    record: { type: 'string' },
    judge: { type: 'string' },
    baseline: { type: 'string' },
    json: { type: 'string' },
    dir: { type: 'string' },
    only: { type: 'string' },
  },
})

function usage(message: string): never {
  console.error(`bench:gate: ${message}\n\n${USAGE}`)
  process.exit(2)
}

const allProbes = Object.keys(PROBES)
const probes = values.only === undefined ? allProbes : values.only.split(',')
const unknown = probes.filter((p) => !allProbes.includes(p))
if (unknown.length > 0) usage(`--only: ${unknown.join(', ')} not a probe (${allProbes.join(', ')})`)
const pairs = values.pairs === undefined ? gateConfig.pairs : Number(values.pairs)
if (!Number.isSafeInteger(pairs) || pairs < 5) usage('--pairs must be an integer >= 5 (fewer cannot reach p < 0.01)')

const dataDir = join(values.dir ?? defaultDataDir, 'gate')
const head: Side = { root: repoRoot, dataDir: join(dataDir, 'head') }
const resultsDir = join(defaultResultsDir, 'gate')
mkdirSync(resultsDir, { recursive: true })

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch (error) {
    console.error(`bench:gate: cannot read ${path}: ${(error as Error).message}`)
    return undefined
  }
}

function progress(sample: PairSample): void {
  const show = (o: PairSample['head'] | undefined) => {
    if (o === undefined) return ''
    if (!o.ok) return `ERROR ${o.error}`
    return Object.entries(o.result.timed)
      .map(([name, t]) => `${name} ${t.value.toPrecision(4)}`)
      .join(' ')
  }
  const base = sample.base === undefined ? '' : `  base: ${show(sample.base)}`
  console.log(`pair ${sample.pair + 1} ${sample.probe.padEnd(14)}${base}  head: ${show(sample.head)}`)
}

function finish(record: GateRecord): never {
  const baseline = readJson<unknown>(values.baseline ?? baselinePath)
  const verdict = judge(gateConfig, record, baseline)
  const json = values.json ?? join(resultsDir, 'gate.json')
  writeFileSync(json, `${JSON.stringify({ record, verdict }, null, 2)}\n`)
  if (record.baseCommit === null) {
    console.log(
      `\n!!! NO A/B: ${record.fallbackReason ?? 'not asked for'}; judged against the committed baseline only !!!`,
    )
  } else {
    console.log(`\nA/B: this tree against ${record.baseCommit.slice(0, 10)}`)
  }
  for (const d of record.declared ?? []) {
    const change = d.worseByPctMax === undefined ? `to ${d.to}` : `worse by up to ${d.worseByPctMax}%`
    console.log(`!!! DECLARED in this commit: ${d.figure} ${change}: ${d.reason}`)
  }
  console.log(`\n${renderTable(verdict)}\n(record and verdict: ${json})`)
  process.exit(verdict.pass ? 0 : 1)
}

try {
  if (values.judge !== undefined) {
    const file = readJson<{ record?: GateRecord } & GateRecord>(values.judge)
    if (file === undefined) process.exit(1)
    finish(file.record ?? file)
  }

  if (values.record !== undefined) {
    const runs = Number(values.record)
    if (!Number.isSafeInteger(runs) || runs < 3) usage('--record needs a number of runs >= 3')
    seedSides([head])
    const samples = measurePairs({ head, probes, pairs: runs, onSample: progress })
    const timed = new Map<string, Timed[]>()
    const counters: Record<string, number> = {}
    for (const s of samples) {
      if (!s.head.ok) throw new Error(`${s.probe} failed: ${s.head.error}`)
      for (const [name, t] of Object.entries(s.head.result.timed)) timed.set(name, [...(timed.get(name) ?? []), t])
      Object.assign(counters, s.head.result.counters)
    }
    const baseline = {
      generatedAt: new Date().toISOString(),
      timed: Object.fromEntries(
        [...timed].map(([name, ts]) => {
          const first = ts[0] as Timed
          const values = ts.map((t) => t.value)
          return [
            name,
            { value: median(values), unit: first.unit, better: first.better, cv: coefficientOfVariation(values) },
          ]
        }),
      ),
      counters,
    }
    writeFileSync(values.json ?? baselinePath, `${JSON.stringify(baseline, null, 2)}\n`)
    console.log('\nfigure  median  CV across processes')
    for (const [name, t] of Object.entries(baseline.timed)) {
      console.log(`${name}  ${t.value.toPrecision(4)} ${t.unit}  ${(t.cv * 100).toFixed(1)}%`)
    }
    console.log(`wrote ${values.json ?? baselinePath}`)
    process.exit(0)
  }

  // A base that cannot exist fails: falling back, the gate would judge against the committed
  // baseline alone at every run, and say so only in its log.
  const unknown = values['no-base'] ? undefined : unknownBase(values.base)
  if (unknown !== undefined) throw new Error(unknown)
  let checkout: BaseCheckout | undefined
  let fallbackReason: string | undefined = values['no-base'] ? '--no-base' : undefined
  if (!values['no-base']) {
    try {
      checkout = checkoutBase(values.base, join(dataDir, 'base'))
      seedSides([checkout.side])
    } catch (error) {
      fallbackReason = `the base ${values.base} is unavailable: ${(error as Error).message}`
      console.log(`\n!!! ${fallbackReason}\n!!! falling back to the committed baseline only\n`)
      checkout?.remove()
      checkout = undefined
    }
  }
  let record: GateRecord
  try {
    seedSides([head])
    const base = checkout?.side
    const samples =
      base === undefined
        ? measurePairs({ head, probes, pairs: gateConfig.headOnlyRuns, onSample: progress })
        : abSamples({
            head,
            base,
            probes,
            pairs,
            maxPairs: gateConfig.maxPairs,
            confirmPairs: gateConfig.confirmPairs,
            config: gateConfig,
            onSample: progress,
          })
    const baseFailures: Record<string, string> = {}
    for (const s of samples) if (s.base !== undefined && !s.base.ok) baseFailures[s.probe] ??= s.base.error
    // Declarations apply only in the commit that adds them: those new against the base's file.
    // Without a base nothing says what is new, so none applies.
    const declared =
      checkout === undefined
        ? []
        : newDeclarations(
            parseDeclarations(readDeclarationsFile(join(repoRoot, DECLARED_CHANGES_FILE))),
            parseDeclarations(fileAtCommit(checkout.commit, DECLARED_CHANGES_FILE)),
          )
    record = {
      baseCommit: checkout?.commit ?? null,
      declared,
      ...(fallbackReason === undefined ? {} : { fallbackReason }),
      baseFailures,
      partial: values.only !== undefined,
      samples,
    }
  } finally {
    checkout?.remove()
  }
  finish(record)
} catch (error) {
  // Anything that stops the gate from measuring or comparing is a failure, never a pass.
  console.error(`\nbench:gate: FAIL: ${(error as Error).stack ?? error}`)
  process.exit(1)
}
