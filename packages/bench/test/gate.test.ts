// The gate's statistics and verdict on synthetic samples: a real slowdown must be caught, noise
// of the size this machine makes between processes must not be, counters must not move at all,
// and anything that cannot be measured or compared fails.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newDeclarations, parseDeclarations, readDeclarationsFile } from '../src/gate/declared.ts'
import {
  type Baseline,
  type GateConfig,
  type GateRecord,
  judge,
  type PairSample,
  undecided,
} from '../src/gate/judge.ts'
import { bootstrapMedianInterval, comparePaired, wilcoxonGreater } from '../src/gate/paired.ts'
import type { ProbeResult } from '../src/gate/probes.ts'
import { renderTable } from '../src/gate/table.ts'
import { prng } from '../src/stats.ts'

const config: GateConfig = { minEffectPct: 10, alpha: 0.01, confirmAlpha: 0.05, baselineTolerancePct: 60 }

/** A normal draw (Box-Muller) from a seeded PRNG. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

interface Synthetic {
  /** Head cost over base cost (1.25 = head 25 % slower). */
  readonly slowdown?: number
  /** Noise of one process's figure (lognormal sigma): 0.15 ≈ 15 % between processes. */
  readonly noise?: number
  readonly pairs?: number
  readonly seed?: number
  readonly headCounter?: number
  readonly baseCounter?: number | undefined
  /** Samples of the confirmation round (fresh pairs after the first round). */
  readonly confirming?: boolean
}

const result = (hitNs: number, rate: number, counter: number | undefined): ProbeResult => ({
  timed: {
    hit_ns: { value: hitNs, unit: 'ns', better: 'lower' },
    rate_per_s: { value: rate, unit: 'entries/s', better: 'higher' },
  },
  counters: counter === undefined ? {} : { reads_per_miss: counter },
})

/** Pairs of one probe whose figures are a common machine drift times per-process noise. */
function record(s: Synthetic = {}): GateRecord {
  const random = prng(s.seed ?? 1)
  const noise = s.noise ?? 0.15
  const slow = s.slowdown ?? 1
  const samples: PairSample[] = []
  for (let pair = 0; pair < (s.pairs ?? 10); pair++) {
    const drift = Math.exp(0.3 * gaussian(random)) // the machine's speed at that moment: both sides share it
    const b = () => drift * Math.exp(noise * gaussian(random))
    const h = () => drift * Math.exp(noise * gaussian(random)) * slow
    samples.push({
      probe: 'p',
      pair,
      ...(s.confirming === true ? { confirming: true } : {}),
      base: { ok: true, result: result(100 * b(), 1e6 / b(), 'baseCounter' in s ? s.baseCounter : 1) },
      head: { ok: true, result: result(100 * h(), 1e6 / h(), s.headCounter ?? 1) },
    })
  }
  return { baseCommit: 'a'.repeat(40), baseFailures: {}, partial: false, samples }
}

const baseline: Baseline = {
  generatedAt: '2026-12-05T00:00:00.000Z',
  timed: {
    hit_ns: { value: 100, unit: 'ns', better: 'lower' },
    rate_per_s: { value: 1e6, unit: 'entries/s', better: 'higher' },
  },
  counters: { reads_per_miss: 1 },
}

const failed = (v: ReturnType<typeof judge>) =>
  v.rows.filter((r) => r.verdict === 'FAIL').map((r) => `${r.kind} ${r.figure}`)

test('Wilcoxon signed-rank: exact one-sided p-values', () => {
  assert.equal(wilcoxonGreater([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 1 / 1024)
  assert.equal(wilcoxonGreater([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10]), 1)
  // n = 8, W+ = 36 - 1 (only the smallest negative): P(W+ >= 35) = 2/256.
  assert.equal(wilcoxonGreater([-1, 2, 3, 4, 5, 6, 7, 8]), 2 / 256)
  // Symmetric: as likely either way.
  const p = wilcoxonGreater([-3, -2, -1, 1, 2, 3])
  assert.ok(p > 0.5 && p < 0.7, `p=${p}`)
  // Zeros drop out; ties share a rank.
  assert.equal(wilcoxonGreater([0, 0, 1, 1, 1]), 1 / 8)
  assert.equal(wilcoxonGreater([]), 1)
})

test('Wilcoxon: the normal approximation past 40 pairs agrees with the exact tail', () => {
  const d = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? -(i + 1) : i + 1))
  const exact = wilcoxonGreater(d)
  const approx = wilcoxonGreater([...d, 0.5]) // 41 pairs: approximated
  assert.ok(Math.abs(exact - approx) < 0.01, `exact ${exact}, approximated ${approx}`)
})

test('the bootstrap interval of a median brackets it and is repeatable', () => {
  const values = [1, 2, 3, 4, 5, 6, 7, 8, 9]
  const [low, high] = bootstrapMedianInterval(values)
  assert.ok(low <= 5 && high >= 5 && low >= 1 && high <= 9)
  assert.deepEqual(bootstrapMedianInterval(values), [low, high])
})

test('comparePaired reads a rate the other way round: a lower rate is a slowdown', () => {
  const c = comparePaired([100, 100, 100, 100, 100], [80, 80, 80, 80, 80], 'higher')
  assert.equal(c.ratio, 1.25)
  assert.throws(() => comparePaired([1, 2], [1], 'lower'), /unpaired/)
})

test('an unchanged tree fails at most 1 % of 200 seeded trials with 15 % noise between processes', () => {
  const alarms: string[] = []
  for (let seed = 1; seed <= 200; seed++) alarms.push(...failed(judge(config, record({ seed }), baseline)))
  // Two figures at p < 0.01 one-sided and past a 10 % effect: about 0.5 % of trials by chance.
  assert.ok(alarms.length <= 2, alarms.join())
  assert.ok(
    alarms.every((a) => a.startsWith('a/b')),
    alarms.join(),
  )
})

test('a 25 % slowdown is caught in at least 190 of 200 trials with 5 % noise between processes', () => {
  let caught = 0
  for (let seed = 1; seed <= 200; seed++) {
    const v = judge(config, record({ seed, slowdown: 1.25, noise: 0.05 }), baseline)
    if (failed(v).includes('a/b hit_ns') && failed(v).includes('a/b rate_per_s')) caught++
  }
  assert.ok(caught >= 190, `caught ${caught} of 200`)
})

/** A first round and a confirmation round of fresh pairs, each as described. */
function twoRounds(first: Synthetic, confirm: Synthetic): GateRecord {
  const firstRound = record(first)
  const seed = (first.seed ?? 1) + 1_000_000
  const fresh = record({ seed, pairs: 14, ...confirm, confirming: true }).samples
  return { ...firstRound, samples: [...firstRound.samples, ...fresh] }
}

const abRow = (v: ReturnType<typeof judge>, figure: string) =>
  v.rows.find((r) => r.kind === 'a/b' && r.figure === figure)

test('a first-round failure that fresh pairs do not repeat passes, and says so', () => {
  const v = judge(config, twoRounds({ slowdown: 1.3, noise: 0.02 }, { noise: 0.15 }), baseline)
  assert.ok(v.pass, failed(v).join())
  assert.match(
    abRow(v, 'hit_ns')?.detail ?? '',
    /NOT CONFIRMED: slower by \+3\d\.\d% in the first round, but .* in 14 fresh pairs/,
  )
})

test('a first-round failure fails only when fresh pairs repeat it, and fails closed without them', () => {
  const confirmed = judge(config, twoRounds({ slowdown: 1.25, noise: 0.05 }, { slowdown: 1.25, noise: 0.05 }), baseline)
  assert.deepEqual(failed(confirmed), ['a/b hit_ns', 'a/b rate_per_s'])
  assert.match(abRow(confirmed, 'hit_ns')?.detail ?? '', /confirmed: \+2\d\.\d% p=.* in 14 fresh pairs/)
  const unchecked = judge(config, record({ slowdown: 1.25, noise: 0.05 }), baseline)
  assert.deepEqual(failed(unchecked), ['a/b hit_ns', 'a/b rate_per_s'])
  assert.match(abRow(unchecked, 'hit_ns')?.detail ?? '', /no confirmation round \(0 fresh pairs\): fails closed/)
})

test('a first-round false alarm survives 14 fresh pairs with 15 % noise in about 1 trial in 20', () => {
  let survived = 0
  for (let seed = 1; seed <= 200; seed++) {
    const v = judge(config, twoRounds({ seed, slowdown: 1.3, noise: 0.02 }, { noise: 0.15 }), baseline)
    if (failed(v).includes('a/b hit_ns')) survived++
  }
  // p < 0.05 one-sided, and slower: 10 of 200 expected.
  assert.ok(survived <= 20, `survived ${survived} of 200`)
})

test('a 25 % slowdown with 15 % noise is confirmed in at least 190 of 200 confirmation rounds', () => {
  let confirmed = 0
  for (let seed = 1; seed <= 200; seed++) {
    const v = judge(config, twoRounds({ seed, slowdown: 1.25, noise: 0.02 }, { slowdown: 1.25, noise: 0.15 }), baseline)
    if (failed(v).includes('a/b hit_ns')) confirmed++
  }
  assert.ok(confirmed >= 190, `confirmed ${confirmed} of 200`)
})

test('a slowdown under the minimum effect passes even when significant; a speed-up is reported', () => {
  const small = judge(config, record({ slowdown: 1.05, noise: 0.01 }), baseline)
  assert.ok(small.pass, failed(small).join())
  assert.match(small.rows.find((r) => r.figure === 'hit_ns' && r.kind === 'a/b')?.detail ?? '', /under the 10% minimum/)
  const faster = judge(config, record({ slowdown: 0.7, noise: 0.05 }), baseline)
  assert.ok(faster.pass)
  assert.equal(faster.rows.find((r) => r.figure === 'hit_ns' && r.kind === 'a/b')?.verdict, 'faster')
})

test('a counter that moves by 10 % fails at once; one that varies between processes fails', () => {
  assert.deepEqual(failed(judge(config, record({ headCounter: 1.1 }), baseline)), ['counter reads_per_miss'])
  const varies = record()
  const samples = varies.samples.map((s, i) =>
    i === 3 && s.head.ok
      ? { ...s, head: { ok: true as const, result: { ...s.head.result, counters: { reads_per_miss: 2 } } } }
      : s,
  )
  const v = judge(config, { ...varies, samples }, baseline)
  assert.match(v.rows.find((r) => r.figure === 'reads_per_miss')?.detail ?? '', /not exact/)
  assert.ok(!v.pass)
})

test('a counter the base lacks is compared with the committed baseline', () => {
  assert.ok(judge(config, record({ baseCounter: undefined }), baseline).pass)
  assert.deepEqual(failed(judge(config, record({ baseCounter: undefined, headCounter: 2 }), baseline)), [
    'counter reads_per_miss',
  ])
})

test("a figure that crosses the committed baseline's bound fails even when the A/B sees no change", () => {
  // The head is 8 % slower than the base (under the A/B's 10 % minimum effect); the committed
  // figure is set so the base is 50 % worse than it (within the 60 % bound) and the head 62 %.
  const r = record({ noise: 0.01, slowdown: 1.08 })
  const baseMedian = judge(config, r, baseline).rows.find((row) => row.kind === 'a/b' && row.figure === 'hit_ns')?.base
  const drifted = {
    ...baseline,
    timed: { ...baseline.timed, hit_ns: { value: (baseMedian as number) / 1.5, unit: 'ns', better: 'lower' as const } },
  }
  assert.deepEqual(failed(judge(config, r, drifted)), ['baseline hit_ns'])
})

test('a figure whose processes fall into two modes is held to the baseline by its pairs, not by its own median', () => {
  // Each process lands at ~100 or ~170 ns. Eight pairs share a mode, two are (low, high): the
  // base's median is low, the head's own median high (+70 % over the committed 100, past the
  // 60 % bound), while the pairs say the head is unchanged.
  const modes: Array<[number, number]> = [
    [100, 100],
    [100, 100],
    [100, 100],
    [100, 100],
    [170, 170],
    [170, 170],
    [170, 170],
    [170, 170],
    [100, 170],
    [100, 170],
  ]
  const random = prng(3)
  const jitter = () => Math.exp(0.01 * gaussian(random))
  const samples: PairSample[] = modes.map(([b, h], pair) => ({
    probe: 'p',
    pair,
    base: { ok: true, result: result(b * jitter(), 1e6 * jitter(), 1) },
    head: { ok: true, result: result(h * jitter(), 1e6 * jitter(), 1) },
  }))
  const v = judge(config, { baseCommit: 'a'.repeat(40), baseFailures: {}, partial: false, samples }, baseline)
  assert.deepEqual(failed(v), [])
  const row = v.rows.find((r) => r.kind === 'baseline' && r.figure === 'hit_ns')
  assert.ok(row !== undefined && (row.head as number) < 110, `head level ${row?.head}`)
})

/** Pairs of `first` first-round pairs (base, head ns) then `fresh` confirmation pairs, 2 % noise. */
function rounds(
  first: number,
  firstLevels: [number, number],
  fresh: number,
  freshLevels: [number, number],
): GateRecord {
  const random = prng(5)
  const jitter = () => Math.exp(0.02 * gaussian(random))
  const pair = (pair: number, [b, h]: [number, number], confirming: boolean): PairSample => ({
    probe: 'p',
    pair,
    ...(confirming ? { confirming: true } : {}),
    base: { ok: true, result: result(b * jitter(), 1e6 * jitter(), 1) },
    head: { ok: true, result: result(h * jitter(), 1e6 * jitter(), 1) },
  })
  const samples = [
    ...Array.from({ length: first }, (_, i) => pair(i, firstLevels, false)),
    ...Array.from({ length: fresh }, (_, i) => pair(first + i, freshLevels, true)),
  ]
  return { baseCommit: 'a'.repeat(40), baseFailures: {}, partial: false, samples }
}

test('the baseline check reads the pairs the verdict rests on: a first round the fresh pairs overruled fails nothing', () => {
  // The head 35 % slower in the first round (base ~100 ns, within the bound of the committed 80;
  // the head 69 % over it, past the 60 % bound), unchanged in 14 fresh pairs. The first round
  // has 18 pairs (extra pairs while undecided): more than the fresh ones, so a pool of both
  // rounds would still read the head at the first round's level.
  const committed = {
    ...baseline,
    timed: { ...baseline.timed, hit_ns: { value: 80, unit: 'ns', better: 'lower' as const } },
  }
  const sameMachine = judge(config, rounds(18, [100, 135], 14, [100, 100]), committed)
  assert.deepEqual(failed(sameMachine), [])
  assert.match(abRow(sameMachine, 'hit_ns')?.detail ?? '', /NOT CONFIRMED/)
  const row = (v: ReturnType<typeof judge>) => v.rows.find((r) => r.kind === 'baseline' && r.figure === 'hit_ns')
  assert.match(row(sameMachine)?.detail ?? '', /within 60%/)
  // As in the CI run: the machine slowed between the rounds; both sides out of bounds.
  const slowed = judge(config, rounds(10, [100, 135], 14, [200, 200]), committed)
  assert.deepEqual(failed(slowed), [])
  assert.match(row(slowed)?.detail ?? '', /and so is the base in this run/)
  // A first round the fresh pairs confirm fails the A/B, not the baseline check alone.
  const confirmed = judge(config, rounds(10, [100, 135], 14, [100, 135]), committed)
  assert.deepEqual(failed(confirmed), ['a/b hit_ns', 'baseline hit_ns'])
})

test('it fails closed: a probe that errored, nothing measured, a malformed or missing baseline, a figure gone', () => {
  const r = record()
  const broken = {
    ...r,
    samples: [{ probe: 'p', pair: 0, head: { ok: false as const, error: 'exit 1' } }, ...r.samples],
  }
  assert.deepEqual(failed(judge(config, broken, baseline)), ['measure p'])
  assert.ok(!judge(config, { ...r, samples: [] }, baseline).pass)
  assert.ok(!judge(config, r, { timed: 'nope' }).pass)
  assert.ok(!judge(config, r, undefined).pass)
  const more = { ...baseline, counters: { ...baseline.counters, gone: 0 } }
  assert.deepEqual(failed(judge(config, r, more)), ['measure gone'])
  assert.ok(judge(config, { ...r, partial: true }, more).pass, '--only leaves other probes out on purpose')
})

test('a probe the base cannot run gets no A/B, said in its row, and is still held to the baseline', () => {
  const r = record({ slowdown: 1.3, noise: 0.02 })
  const samples = r.samples.map((s) => ({ ...s, base: { ok: false as const, error: 'no such export' } }))
  const v = judge(config, { ...r, samples, baseFailures: { p: 'no such export' } }, baseline)
  assert.ok(v.pass)
  assert.match(v.rows.find((row) => row.kind === 'a/b')?.detail ?? '', /NO A\/B/)
  const drifted = {
    ...baseline,
    timed: { ...baseline.timed, hit_ns: { value: 60, unit: 'ns', better: 'lower' as const } },
  }
  assert.ok(!judge(config, { ...r, samples, baseFailures: { p: 'x' } }, drifted).pass)
})

test('a base that failed some of its runs still has its complete pairs judged: a regression they show fails', () => {
  const r = twoRounds({ slowdown: 1.4, noise: 0.02 }, { slowdown: 1.4, noise: 0.02 })
  // One confirming base process hung past its timeout: its pair is incomplete, the rest stand.
  const samples = r.samples.map((s, i) => (i === 12 ? { ...s, base: { ok: false as const, error: 'ETIMEDOUT' } } : s))
  const v = judge(config, { ...r, samples, baseFailures: { p: 'ETIMEDOUT' } }, baseline)
  assert.deepEqual(failed(v), ['a/b hit_ns', 'a/b rate_per_s'])
})

test('a declared change confirmed at what it declared passes, though its first round came out above it', () => {
  const declared = [{ figure: 'hit_ns', worseByPctMax: 25, reason: 'a checksum verified on every read' }]
  const aboveThenAt = { ...twoRounds({ slowdown: 1.3, noise: 0.02 }, { slowdown: 1.2, noise: 0.02 }), declared }
  const v = judge(config, aboveThenAt, baseline)
  assert.ok(!failed(v).includes('a/b hit_ns'), abRow(v, 'hit_ns')?.detail)
  const pastIt = { ...twoRounds({ slowdown: 1.3, noise: 0.02 }, { slowdown: 1.4, noise: 0.02 }), declared }
  assert.ok(failed(judge(config, pastIt, baseline)).includes('a/b hit_ns'), 'confirmed past the declared bound')
})

test('too few complete pairs is a failure, not a pass', () => {
  const r = record({ pairs: 4 })
  assert.deepEqual(failed(judge(config, r, baseline)), ['a/b hit_ns', 'a/b rate_per_s'])
})

test('undecided: slower past the minimum effect but not yet significant', () => {
  const r = record({ slowdown: 1.2, noise: 0.4, pairs: 6, seed: 3 })
  const names = undecided(config, r)
  const v = judge(config, r, baseline)
  for (const name of names)
    assert.equal(v.rows.find((row) => row.figure === name && row.kind === 'a/b')?.verdict, 'pass')
  assert.deepEqual(undecided(config, record({ slowdown: 1.25, noise: 0.02 })), [])
})

test('the table puts failures first, with base, head, change, confidence and noise', () => {
  const table = renderTable(judge(config, record({ headCounter: 2 }), baseline))
  const lines = table.split('\n')
  assert.match(lines[0] ?? '', /verdict.*check.*figure.*base.*head.*change.*confidence.*noise/)
  assert.match(lines[2] ?? '', /^FAIL\s+counter\s+reads_per_miss/)
  assert.match(table, /gate: FAIL \(1 of \d+ checks failed\)/)
})

test('a declared slowdown passes up to its bound, in the commit that declares it, and no further', () => {
  const declare = (worseByPctMax: number): GateRecord => ({
    ...record({ slowdown: 1.25, noise: 0.02 }),
    declared: [{ figure: 'hit_ns', worseByPctMax, reason: 'a checksum verified on every read' }],
  })
  const within = judge(config, declare(35), baseline)
  assert.deepEqual(failed(within), ['a/b rate_per_s'], 'only the undeclared figure fails')
  assert.match(within.rows.find((r) => r.figure === 'hit_ns' && r.kind === 'a/b')?.detail ?? '', /^DECLARED/)
  assert.deepEqual(failed(judge(config, declare(15), baseline)), ['a/b hit_ns', 'a/b rate_per_s'])
})

test('a declared counter passes at the declared value only; a declaration nothing measures fails', () => {
  const declare = (to: number): GateRecord => ({
    ...record({ headCounter: 2 }),
    declared: [{ figure: 'reads_per_miss', to, reason: 'a second record read per miss' }],
  })
  assert.deepEqual(failed(judge(config, declare(2), baseline)), [])
  assert.deepEqual(failed(judge(config, declare(3), baseline)), ['counter reads_per_miss'])
  const unknown = { ...record(), declared: [{ figure: 'nope', to: 1, reason: 'a figure that is not there' }] }
  assert.deepEqual(failed(judge(config, unknown, baseline)), ['measure nope'])
})

test('declarations: only those new against the base apply; a malformed file fails closed', () => {
  const old = { figure: 'hit_ns', worseByPctMax: 20, reason: 'an older, landed tradeoff' }
  const fresh = { figure: 'reads_per_miss', to: 2, reason: 'a second record read per miss' }
  assert.deepEqual(newDeclarations([old, fresh], [old]), [fresh])
  assert.deepEqual(parseDeclarations(undefined), [])
  assert.deepEqual(parseDeclarations(JSON.stringify([fresh])), [fresh])
  for (const bad of [
    '{}',
    '[{"figure":"x","reason":"long enough reason"}]',
    '[{"figure":"x","to":1,"reason":"short"}]',
    '[{"figure":"x","to":1,"worseByPctMax":5,"reason":"both kinds at once"}]',
    '[{"figure":"x","worseByPctMax":500,"reason":"far too much"}]',
  ]) {
    assert.throws(() => parseDeclarations(bad), /declared-changes\.json/, bad)
  }
  // The committed file parses: a broken one would fail every gate run.
  assert.ok(
    Array.isArray(
      parseDeclarations(readDeclarationsFile(new URL('../gate/declared-changes.json', import.meta.url).pathname)),
    ),
  )
})

test('the baseline check judges a figure against the committed one as this machine measures it', () => {
  // Four figures; the base runs every one `machine` times the committed cost, the head the same.
  const committed: Baseline = {
    generatedAt: '2026-12-05T00:00:00.000Z',
    timed: Object.fromEntries(['a', 'b', 'c', 'd'].map((f) => [f, { value: 10, unit: 'ms', better: 'lower' }])),
    counters: {},
  }
  const onMachine = (machine: number, drifted: Record<string, number> = {}): GateRecord => {
    const random = prng(7)
    const samples: PairSample[] = []
    for (let pair = 0; pair < 10; pair++) {
      const figures = (): ProbeResult => ({
        timed: Object.fromEntries(
          ['a', 'b', 'c', 'd'].map((f) => [
            f,
            {
              value: 10 * machine * (drifted[f] ?? 1) * Math.exp(0.02 * gaussian(random)),
              unit: 'ms',
              better: 'lower',
            },
          ]),
        ),
        counters: {},
      })
      samples.push({ probe: 'p', pair, base: { ok: true, result: figures() }, head: { ok: true, result: figures() } })
    }
    return { baseCommit: 'a'.repeat(40), baseFailures: {}, partial: false, samples }
  }
  // A machine 1.8× slower than the one that recorded the baseline: nothing drifted, nothing fails
  // (judged against the raw committed figures, all four would).
  const slow = judge(config, onMachine(1.8), committed)
  assert.deepEqual(failed(slow), [])
  assert.match(slow.rows.find((r) => r.kind === 'baseline')?.detail ?? '', /× 1\.(79|80|81), this machine's speed/)
  // On that machine, one figure that crept since the baseline: 50 % worse in the base (within the
  // 60 % bound), 62 % in the head, a step too small for the A/B to fail, still fails: the median
  // of four figures is the machine.
  const creptInHead = onMachine(1.8, { c: 1.62 })
  const baseAsBefore = onMachine(1.8, { c: 1.5 })
  const crossing = {
    ...creptInHead,
    samples: creptInHead.samples.map((s, i) => ({ ...s, base: baseAsBefore.samples[i]?.base })),
  } as GateRecord
  assert.deepEqual(failed(judge(config, crossing, committed)), ['baseline c'])
  // The same figure as far out in the base measured in the same run: not the change under test
  // (the A/B sees nothing); it passes, saying so.
  const both = judge(config, onMachine(1.8, { c: 2.5 }), committed)
  assert.deepEqual(failed(both), [])
  assert.match(both.rows.find((r) => r.kind === 'baseline' && r.figure === 'c')?.detail ?? '', /and so is the base/)
  // Without a base there is no measure of the machine: the committed figures as they are.
  const headOnly = onMachine(1.8)
  const noBase = { ...headOnly, baseCommit: null, samples: headOnly.samples.map(({ base: _, ...s }) => s) }
  assert.deepEqual(failed(judge(config, noBase, committed)), ['baseline a', 'baseline b', 'baseline c', 'baseline d'])
})
