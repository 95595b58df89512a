// The gate's decision logic on synthetic results: a real regression must be caught, and noise
// of the size a shared 2-core machine produces on an unchanged tree must not be.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkRatio, decide, type Finding, type GateConfig, type RatioBound } from '../src/gate/decide.ts'
import { medianResults } from '../src/gate/record.ts'
import { renderTable } from '../src/gate/table.ts'
import type { BenchResults } from '../src/report.ts'

const config: GateConfig = {
  ratios: [{ scenario: 'cold-restore', ratio: 'eager_over_lazy', min: 40 }],
  metrics: [
    { scenario: 'cold-restore', metric: 'open_ms' },
    { scenario: 'log-read', metric: 'inline_gbps' },
  ],
  defaultTolerancePct: 25,
  abTolerancePct: 10,
}

/** Results with the baseline figures scaled: `slow` multiplies costs (divides throughputs). */
function results(opts: { ratio?: number; slowMs?: number; slowGbps?: number; calib?: number } = {}): BenchResults {
  return {
    generatedAt: '2026-11-28T00:00:00.000Z',
    machine: { cpus: 2, cpuModel: 'test', node: 'v20.20.2', platform: 'linux-x64' },
    scenarios: [
      {
        scenario: 'cold-restore',
        parameters: {},
        metrics: [{ name: 'open_ms', value: 10 * (opts.slowMs ?? 1), unit: 'ms', better: 'lower' }],
        ratios: [{ name: 'eager_over_lazy', value: 60 * (opts.ratio ?? 1) }],
      },
      {
        scenario: 'log-read',
        parameters: {},
        metrics: [{ name: 'inline_gbps', value: 1.4 / (opts.slowGbps ?? 1), unit: 'GB/s', better: 'higher' }],
        ratios: [],
      },
      {
        scenario: 'calibration',
        parameters: {},
        metrics: [{ name: 'cpu_ms', value: 5 * (opts.calib ?? 1), unit: 'ms', better: 'lower' }],
        ratios: [],
      },
    ],
  }
}

const baseline = results()
const failures = (findings: readonly Finding[]) => findings.filter((f) => f.status === 'fail')

/** Deterministic noise in [-amp, +amp] (a small LCG, so a failure reproduces). */
function noise(seed: number, amp: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return 1 + amp * (2 * (s / 2147483648) - 1)
  }
}

test('an unchanged tree with ±15% noise on every figure passes', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = noise(seed, 0.15)
    const run = () => results({ ratio: r(), slowMs: r(), slowGbps: r() })
    const verdict = decide(config, [run(), run()], [baseline])
    assert.equal(verdict.pass, true, `seed ${seed}: ${renderTable(verdict)}`)
  }
})

test('a 2x ratio regression in both runs fails', () => {
  const verdict = decide(config, [results({ ratio: 0.5 }), results({ ratio: 0.48 })], [baseline])
  assert.equal(verdict.pass, false)
  const [f] = failures(verdict.findings)
  assert.equal(f?.kind, 'ratio-floor')
  assert.equal(f?.name, 'eager_over_lazy')
  assert.equal(f?.value, 30, 'reports the run closest to passing')
})

test('a ratio regression in only one of two runs passes as noise, with a note', () => {
  const verdict = decide(config, [results({ ratio: 0.5 }), results()], [baseline])
  assert.equal(verdict.pass, true)
  const f = verdict.findings.find((x) => x.name === 'eager_over_lazy')
  assert.match(f?.detail ?? '', /noise/)
})

test('a ratio ceiling is checked too', () => {
  const ceiling: GateConfig = { ...config, ratios: [{ scenario: 'cold-restore', ratio: 'eager_over_lazy', max: 50 }] }
  assert.equal(decide(ceiling, [results(), results()]).pass, false)
  assert.equal(decide(ceiling, [results({ ratio: 0.8 }), results({ ratio: 0.8 })]).pass, true)
})

test('a baseline metric 40% worse in both runs fails; 8% worse passes', () => {
  const worse = decide(config, [results({ slowMs: 1.4 }), results({ slowMs: 1.42 })], [baseline])
  assert.equal(worse.pass, false)
  const [f] = failures(worse.findings)
  assert.equal(f?.kind, 'baseline')
  assert.equal(f?.name, 'open_ms')
  assert.ok(Math.abs((f?.changePct ?? 0) - 40) < 1e-9)
  assert.equal(decide(config, [results({ slowMs: 1.08 }), results({ slowMs: 1.08 })], [baseline]).pass, true)
})

test('a throughput 40% worse fails: higher-is-better figures compare the other way', () => {
  const verdict = decide(config, [results({ slowGbps: 1.4 }), results({ slowGbps: 1.4 })], [baseline])
  assert.deepEqual(
    failures(verdict.findings).map((f) => f.name),
    ['inline_gbps'],
  )
  // Faster is never a failure.
  assert.equal(decide(config, [results({ slowGbps: 0.5 }), results({ slowGbps: 0.5 })], [baseline]).pass, true)
})

test('a change within the spread of the runs does not count', () => {
  // 40% worse in one run, 0% in the other: spread 40% covers it, and it did not survive the re-run.
  const verdict = decide(config, [results({ slowMs: 1.4 }), results()], [baseline])
  assert.equal(verdict.pass, true)
})

test('a change past the tolerance in one run only does not survive the re-run', () => {
  // +30% and +20%: the runs agree within 8%, so spread does not excuse it; the re-run does.
  const verdict = decide(config, [results({ slowMs: 1.3 }), results({ slowMs: 1.2 })], [baseline])
  assert.equal(verdict.pass, true)
  assert.match(verdict.findings.find((f) => f.name === 'open_ms')?.detail ?? '', /noise/)
})

test('a change past the tolerance in both runs, but within their spread, does not count', () => {
  // +30% and +80%: both past 25%, but the runs disagree by 38%, more than the smaller change.
  const verdict = decide(config, [results({ slowMs: 1.3 }), results({ slowMs: 1.8 })], [baseline])
  assert.equal(verdict.pass, true)
})

test('with a calibration metric, a uniformly slower machine passes and a real slowdown fails', () => {
  const calibrated: GateConfig = {
    ...config,
    metrics: config.metrics.map((check) => ({ ...check, calibration: 'cpu_ms' })),
  }
  const slowMachine = () => results({ slowMs: 2, slowGbps: 2, calib: 2 })
  assert.equal(
    decide(config, [slowMachine(), slowMachine()], [baseline]).pass,
    false,
    'uncalibrated: looks like a regression',
  )
  assert.equal(decide(calibrated, [slowMachine(), slowMachine()], [baseline]).pass, true)
  const regressed = () => results({ slowMs: 2 * 1.5, slowGbps: 2, calib: 2 })
  const verdict = decide(calibrated, [regressed(), regressed()], [baseline])
  assert.deepEqual(
    failures(verdict.findings).map((f) => f.name),
    ['open_ms'],
  )
})

test('a missing scenario fails', () => {
  const run = results()
  const without = { ...run, scenarios: run.scenarios.filter((s) => s.scenario !== 'cold-restore') }
  const verdict = decide(config, [without, results()], [baseline])
  assert.equal(verdict.pass, false)
  assert.ok(failures(verdict.findings).some((f) => f.kind === 'missing' && f.scenario === 'cold-restore'))
})

test('a metric missing from the baseline fails', () => {
  const base = results()
  const stale = { ...base, scenarios: base.scenarios.filter((s) => s.scenario !== 'log-read') }
  const verdict = decide(config, [results(), results()], [stale])
  assert.ok(failures(verdict.findings).some((f) => f.kind === 'missing' && f.detail.startsWith('baseline')))
})

test('NaN fails, whether a number or the null JSON writes for it', () => {
  const nan = results({ ratio: Number.NaN })
  assert.equal(decide(config, [nan, results()], [baseline]).pass, false)
  const viaJson = JSON.parse(JSON.stringify(results({ slowMs: Number.NaN })))
  const verdict = decide(config, [viaJson, results()], [baseline])
  assert.equal(verdict.pass, false)
  assert.ok(failures(verdict.findings).every((f) => f.kind === 'invalid'))
  // The check itself fails closed, not only the scan for non-finite figures.
  const bound = config.ratios[0] as RatioBound
  assert.equal(checkRatio(bound, [nan]).status, 'fail')
  // Also an ungated figure: a NaN anywhere means a task errored.
  assert.equal(decide(config, [results({ calib: Number.POSITIVE_INFINITY })], [baseline]).pass, false)
})

test('malformed input fails', () => {
  const good = results()
  const malformed: unknown[] = [
    null,
    'not results',
    {},
    { scenarios: 'nope' },
    { scenarios: [{ metrics: [], ratios: [] }] },
    { scenarios: [{ scenario: 'cold-restore', metrics: [], ratios: {} }] },
    {
      ...good,
      scenarios: [{ ...good.scenarios[0], metrics: [{ name: 'open_ms', value: '10', unit: 'ms', better: 'lower' }] }],
    },
    { ...good, scenarios: [{ ...good.scenarios[0], metrics: [{ name: 'open_ms', value: 10, unit: 'ms' }] }] },
    { ...good, scenarios: [{ ...good.scenarios[0], metrics: [{ value: 10, unit: 'ms', better: 'lower' }] }] },
    {
      ...good,
      scenarios: [
        {
          ...good.scenarios[0],
          ratios: [
            { name: 'eager_over_lazy', value: 60 },
            { name: 'eager_over_lazy', value: 61 },
          ],
        },
      ],
    },
    { ...good, scenarios: [{ ...good.scenarios[0], error: 'Error: boom' }] },
    { ...good, scenarios: [good.scenarios[0], good.scenarios[0]] },
  ]
  for (const bad of malformed) {
    const verdict = decide(config, [bad, results()], [baseline])
    assert.equal(verdict.pass, false, JSON.stringify(bad))
    assert.ok(
      failures(verdict.findings).some((f) => f.kind === 'invalid'),
      JSON.stringify(bad),
    )
    // A malformed baseline fails the same way.
    assert.equal(decide(config, [results(), results()], [bad]).pass, false, `baseline ${JSON.stringify(bad)}`)
  }
})

test('nothing to check, or no runs, fails', () => {
  assert.equal(decide(config, []).pass, false)
  assert.equal(
    decide({ ratios: [], metrics: [], defaultTolerancePct: 25, abTolerancePct: 10 }, [results()]).pass,
    false,
  )
})

test('an errored scenario fails, and a figure whose direction changed is not compared', () => {
  const errored = {
    ...results(),
    scenarios: [{ scenario: 'cold-restore', parameters: {}, metrics: [], ratios: [], error: 'Error: boom' }],
  }
  const verdict = decide(config, [errored], [baseline])
  assert.equal(verdict.pass, false)
  assert.ok(failures(verdict.findings).some((f) => /errored: Error: boom/.test(f.detail)))
  const flipped = (r: BenchResults): BenchResults => ({
    ...r,
    scenarios: r.scenarios.map((s) =>
      s.scenario === 'cold-restore'
        ? { ...s, metrics: [{ name: 'open_ms', value: 10, unit: 'ms', better: 'higher' }] }
        : s,
    ),
  })
  const changed = decide(config, [flipped(results())], [baseline])
  assert.ok(failures(changed.findings).some((f) => f.name === 'open_ms' && /unit changed/.test(f.detail)))
})

test('A/B: several base runs form the baseline, and their spread widens the threshold', () => {
  // Base runs at 10 and 10.2 ms, head at 11: +9% is within tolerance.
  const base = [results(), results({ slowMs: 1.02 })]
  assert.equal(decide(config, [results({ slowMs: 1.1 }), results({ slowMs: 1.1 })], base).pass, true)
  // Head 50% slower in both runs: caught against the base runs' median.
  const slower = decide(config, [results({ slowMs: 1.5 }), results({ slowMs: 1.52 })], base)
  assert.deepEqual(
    failures(slower.findings).map((f) => f.name),
    ['open_ms'],
  )
  // A base that disagrees with itself by 60% cannot convict a 40% slowdown.
  const noisyBase = [results(), results({ slowMs: 1.6 })]
  assert.equal(decide(config, [results({ slowMs: 1.7 }), results({ slowMs: 1.7 })], noisyBase).pass, true)
})

test('the table shows failures first with what moved and by how much', () => {
  const verdict = decide(config, [results({ slowMs: 1.4 }), results({ slowMs: 1.4 })], [baseline])
  const lines = renderTable(verdict).split('\n')
  assert.match(lines[2] ?? '', /^FAIL\s+baseline\s+cold-restore\s+open_ms\s+14\.0\s+14\.0 \/ 14\.0.*\+40\.0%/)
  assert.match(lines.at(-1) ?? '', /gate: FAIL \(1 of \d+ checks failed\)/)
})

test('a recorded baseline is the per-figure median of its runs; an errored run is no baseline', () => {
  const recorded = medianResults([results({ slowMs: 1.3 }), results({ slowMs: 0.9 }), results({ slowMs: 1 })])
  const open = recorded.scenarios.find((s) => s.scenario === 'cold-restore')?.metrics.find((m) => m.name === 'open_ms')
  assert.equal(open?.value, 10)
  assert.equal(open?.better, 'lower')
  const errored = {
    ...results(),
    scenarios: [{ scenario: 'cold-restore', parameters: {}, metrics: [], ratios: [], error: 'x' }],
  }
  assert.throws(() => medianResults([results(), errored]), /missing or errored/)
})
