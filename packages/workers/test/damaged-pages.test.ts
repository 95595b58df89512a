// The seeded damaged-page trials that found faults, on both runtimes, in `pnpm test` (the full
// run is `pnpm test:damaged-pages`): seed 2's trial 3 and trial 33 each garble a whole log leaf.
// Before value sizes were checked (value-size-guard.ts), both killed the reading process with a
// SIGBUS; with that, trial 33 returned a shape's JSON log short by its last three transactions
// (keys a range listed that a get did not find were skipped), now STORAGE_CORRUPT. And seed 1's
// catalog trials 6 and 25: a garbled lookup leaf answered 36 definitions as absent (a second
// handle at the next getOrCreateShape), a garbled shapes page listed a shape short.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const RUN = fileURLToPath(new URL('./damaged-pages/run.ts', import.meta.url))

/** Runs the trials `args` name on both runtimes: each must pass (no wrong answer, no death) and meet the damage. */
function assertTrials(...args: string[]): void {
  const run = spawnSync(process.execPath, ['--import', 'tsx', RUN, ...args], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`)
  const tallies = run.stdout.split('\n').filter((line) => line.startsWith('damaged pages,'))
  assert.equal(tallies.length, 2, run.stdout)
  for (const line of tallies) {
    const tally = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, number>
    assert.equal(tally.trials, 2)
    assert.ok((tally.corrupt ?? 0) > 0, `the damage is met: ${line}`)
  }
}

test('seed 2, trials 3 and 33: every read exact or STORAGE_CORRUPT, no process dies, on both runtimes', () => {
  assertTrials('--seed', '2', '--only', '3,33')
})

test('catalog, seed 1, trials 6 and 25: no definition answered absent, no list short, on both runtimes', () => {
  assertTrials('--file', 'catalog', '--seed', '1', '--only', '6,25')
})
