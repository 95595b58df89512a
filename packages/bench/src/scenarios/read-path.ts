import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { metric, ratio, type ScenarioContext, type ScenarioResult } from '../scenario.ts'
import { ensureSeed } from '../seed.ts'
import { median } from '../stats.ts'
import type { ReadPathKind } from './read-path-probe.ts'
import { runProbeProcess } from './workload.ts'

/**
 * Read path: the latest offset of a live shape, read on the main thread, in random order over
 * N shapes (50,000 by default):
 * - a table hit on the worker runtime (the shared-memory table the writer threads publish into)
 *   and on the inline runtime (a Map), against a plain `Map.get` of the same data and an LMDB
 *   `get` of the same record (tinybench, batches of 1,000 lookups; figures are per lookup);
 * - the same three over 1,024 shapes only (`_hot`), which stay in the CPU caches: over every
 *   shape in random order each lookup is mostly cache misses (Map.get 111 ns, where the hot set
 *   gives the code path's own cost, as the gate's probe measures it), so both are reported;
 * - the shared-memory hit again while the writer threads commit (own harness: the main thread
 *   must yield between batches for the appends to flow), against the same harness idle.
 *
 * The shapes are only read, so on the worker runtime their entries are the main thread's own,
 * unslotted (packages/workers/src/shared-table/README.md): a shape a writer has had is hit the
 * same way but reads its seq from the slot array, not from a header word (over 50,000 shapes in
 * random order, SharedReadPathTable alone, three runs: 86-105 ns against 83-87 ns).
 *
 * Each figure comes from PROCESSES fresh processes (read-path-probe.ts), one kind of lookup per
 * process, the kinds interleaved; the figure is the median and its spread across the processes
 * is reported. Measured before: with both runtimes driven through the same engine code in one
 * process, the shared hit read 260-861 ns from one run to the next; in processes of its own,
 * ~70 ns.
 */
const PROCESSES = 5
const KINDS: readonly ReadPathKind[] = ['shared', 'inline', 'map', 'lmdb', 'shared-hot', 'inline-hot', 'map-hot']
const probe = fileURLToPath(new URL('./read-path-probe.ts', import.meta.url))

export async function readPath(context: ScenarioContext): Promise<ScenarioResult> {
  const shapes = context.shapes ?? 50_000
  const seed = await ensureSeed(join(context.dataDir, `cold-restore-${shapes}`), {
    shapes,
    snapshotRows: 3,
    transactions: 3,
    rowsPerTransaction: 5,
  })
  const samples = new Map<ReadPathKind, number[]>(KINDS.map((kind) => [kind, []]))
  for (let round = 0; round < PROCESSES; round++) {
    // Rotated every round, so no kind always runs first (or right after the same other kind).
    for (let k = 0; k < KINDS.length; k++) {
      const kind = KINDS[(k + round) % KINDS.length] as ReadPathKind
      samples.get(kind)?.push(runProbe(kind, seed.dir, context.dataDir).ns as number)
    }
  }
  // Writes go to a copy: the seed stays as seeded for the next scenario and the next run.
  const copy = join(context.dataDir, 'read-path-writing')
  rmSync(copy, { recursive: true, force: true })
  cpSync(seed.dir, copy, { recursive: true })
  let writing: Record<string, number>
  try {
    writing = runProbe('writing', copy, context.dataDir)
  } finally {
    rmSync(copy, { recursive: true, force: true })
  }

  const ns = (kind: ReadPathKind) => median(samples.get(kind) ?? [])
  /** (max - min) / median across the processes. */
  const spread = (kind: ReadPathKind) => {
    const list = samples.get(kind) ?? []
    return (Math.max(...list) - Math.min(...list)) / ns(kind)
  }
  const sharedNs = ns('shared')
  const inlineNs = ns('inline')
  const mapNs = ns('map')
  const lmdbNs = ns('lmdb')
  return {
    scenario: 'read-path',
    parameters: {
      shapes,
      batch: 1000,
      order: 'random',
      processes: PROCESSES,
      writingMs: 1500,
      entriesCommittedWhileReading: writing.entries,
      samplesNs: Object.fromEntries(samples),
    },
    metrics: [
      metric('hit_shared_ns', sharedNs, 'ns/lookup'),
      metric('hit_inline_ns', inlineNs, 'ns/lookup'),
      metric('map_get_ns', mapNs, 'ns/lookup'),
      metric('lmdb_get_ns', lmdbNs, 'ns/lookup'),
      metric('hit_shared_hot_ns', ns('shared-hot'), 'ns/lookup'),
      metric('hit_inline_hot_ns', ns('inline-hot'), 'ns/lookup'),
      metric('map_get_hot_ns', ns('map-hot'), 'ns/lookup'),
      metric('hit_shared_idle_harness_ns', writing.idleNs as number, 'ns/lookup'),
      metric('hit_shared_while_writing_ns', writing.writingNs as number, 'ns/lookup'),
    ],
    ratios: [
      // Throughput ratios, as docs/design/ARCHITECTURE.md names them: a_over_b = a's ops/s / b's ops/s.
      ratio('map_over_hit', sharedNs / mapNs, '<= 3'),
      ratio('hit_over_lmdb', lmdbNs / sharedNs, '>= 10'),
      ratio('inline_hit_over_shared_hit', sharedNs / inlineNs, '<= 1.3'),
      ratio('idle_over_writing', (writing.writingNs as number) / (writing.idleNs as number), '<= 1.5'),
      ratio('hit_shared_spread', spread('shared'), '<= 0.1'),
      ratio('hit_inline_spread', spread('inline'), '<= 0.1'),
      // The same over 1,024 shapes that stay in the CPU caches: the code path, not memory.
      ratio('map_over_hit_hot', ns('shared-hot') / ns('map-hot'), '<= 3'),
      ratio('inline_hit_over_shared_hit_hot', ns('shared-hot') / ns('inline-hot'), '<= 1.3'),
      ratio('hit_shared_hot_spread', spread('shared-hot'), '<= 0.1'),
      ratio('hit_inline_hot_spread', spread('inline-hot'), '<= 0.1'),
    ],
  }
}

function runProbe(kind: ReadPathKind, seedDir: string, workDir: string): Record<string, number> {
  return runProbeProcess(probe, [kind, seedDir, workDir])
}
