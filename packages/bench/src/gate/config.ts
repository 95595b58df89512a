// The committed gate config.
//
// Ratio bounds are looser than ARCHITECTURE.md's goals on purpose: the gate catches
// regressions, it does not re-judge goals (the report does that), so a bound sits where today's
// figures pass with a wide margin on the noisy 2-core machine.
//
// Metric checks compare medians of timed loops only, no p99/max: tails on a shared 2-core VM
// move 2x between identical runs. Each tolerance comes from the spread measured over repeated
// runs of an unchanged tree (`pnpm bench:gate --record N` prints it); see `why`.
import type { GateConfig } from './decide.ts'

export const gateConfig: GateConfig = {
  ratios: [
    {
      scenario: 'cold-restore',
      ratio: 'eager_over_lazy',
      min: 20,
      why: 'goal >= 50 (lazy restore); 44-128 over 5 loaded runs',
    },
    {
      // The name carries the default shape counts: a run with --shapes renames it, and the
      // gate then reports it missing rather than comparing a different experiment.
      scenario: 'cold-restore',
      ratio: 'open_50k_over_5k',
      max: 4,
      why: 'goal <= 2 (ready time flat in the number of shapes); 1.2-1.5 on a quiet machine, 1.15-3.3 loaded; an O(N) open gives ~10',
    },
    {
      scenario: 'write-fanout',
      ratio: 'distinct_over_shared_1500_inline',
      min: 2,
      why: 'the shared record must stay well ahead of a copy per shape; 4.2-9.7 loaded',
    },
    {
      scenario: 'write-fanout',
      ratio: 'distinct_over_shared_1500_workers2',
      min: 2,
      why: 'the same through the worker runtime; 6.7-13.9 loaded',
    },
    {
      scenario: 'unrelated-shapes',
      ratio: 'largest_over_smallest',
      max: 3,
      why: 'goal <= 2 (a write does not slow with unrelated shapes); 0.59-1.31 loaded',
    },
    {
      scenario: 'read-path',
      ratio: 'idle_over_writing',
      max: 4,
      why: 'goal <= 1.5 (reads unchanged while writers commit); 0.82-1.17 quiet, 1.4-2.9 with the cores loaded',
    },
    {
      scenario: 'live-fanout',
      ratio: 'waiters_over_no_waiters',
      max: 30,
      why: 'waking 10,000 waiters must stay a small multiple of the append itself; 1.6-7.2',
    },
  ],
  // Tolerances and calibrations from `pnpm bench:gate --record 5` on 2026-11-28, with three
  // other agents' test runs loading the 2 cores (load average ~7): the largest deviation of a
  // run from the median, raw and calibrated, is in each `why`. A calibration is used only where
  // it shrank that deviation. Tolerances sit above the deviation seen: the baseline check is for
  // gross regressions (2x in the noisiest figures); `--base <ref>` A/B runs catch finer ones.
  // The committed baseline is a second record, on the quiet machine (load < 1, 12:45 UTC): its
  // deviations were 6-34 % raw, well inside these tolerances.
  defaultTolerancePct: 50,
  abTolerancePct: 15,
  metrics: [
    {
      scenario: 'cold-restore',
      metric: 'open_ms',
      calibration: 'cpu_ms',
      tolerancePct: 60,
      why: 'max deviation 102% raw, 32% per cpu_ms',
    },
    { scenario: 'cold-restore', metric: 'first_read_p50_us', tolerancePct: 50, why: '26% raw (34% per cpu_ms)' },
    { scenario: 'read-path', metric: 'hit_shared_ns', tolerancePct: 40, why: '14% raw (20% per cpu_ms)' },
    {
      scenario: 'append-throughput',
      metric: 'inline_entries_per_s',
      tolerancePct: 60,
      why: '32% raw (33% per cpu_ms)',
    },
    {
      scenario: 'append-throughput',
      metric: 'workers2_entries_per_s',
      tolerancePct: 60,
      why: '35% raw, 30% per thread_roundtrip_us',
    },
    {
      scenario: 'write-fanout',
      metric: 'inline_shared_1500_ms',
      tolerancePct: 100,
      why: '76% raw (71% per cpu_ms: not worth the extra noise source)',
    },
    {
      scenario: 'write-fanout',
      metric: 'workers2_shared_1500_ms',
      tolerancePct: 100,
      why: '65% raw, 59% per thread_roundtrip_us',
    },
    {
      scenario: 'live-fanout',
      metric: 'all_woken_ms',
      tolerancePct: 200,
      // The in-run ratio waiters_over_no_waiters guards the wake-up itself; this catches a
      // gross slowdown of the whole path.
      why: '72% raw, 66% per thread_roundtrip_us over the record; then 30-101 ms against 24 in 5 gate runs at load 12-17, one of which failed at 100% (+333%, +146% on re-run)',
    },
    { scenario: 'log-read', metric: 'inline_gbps', tolerancePct: 100, why: '74% raw (88% per cpu_ms)' },
    {
      scenario: 'unrelated-shapes',
      metric: 'latency_10000_ms',
      tolerancePct: 100,
      why: '57% raw (155% per an fsync calibration, dropped as useless)',
    },
  ],
}
