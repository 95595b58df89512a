// The gate as CI runs it, on real probe processes: without a base to compare with it must say so
// loudly and still judge against the baseline, never pass silently.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../src/gate/cli.ts', import.meta.url))

function gate(args: readonly string[], baseline: object) {
  const dir = mkdtempSync(join(tmpdir(), 'gate-cli-'))
  try {
    const baselinePath = join(dir, 'baseline.json')
    writeFileSync(baselinePath, JSON.stringify(baseline))
    const json = join(dir, 'gate.json')
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', cli, '--only', 'log-read', '--dir', dir, '--baseline', baselinePath, '--json', json, ...args],
      { encoding: 'utf8', timeout: 120_000 },
    )
    const written = existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : undefined
    return { status: run.status, stdout: run.stdout, stderr: run.stderr, written }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const empty = { generatedAt: '2026-12-05T00:00:00.000Z', timed: {}, counters: {} }

test('without a base the gate judges against the baseline alone, and says so', () => {
  const { status, stdout, written } = gate(['--no-base'], empty)
  assert.match(stdout, /!!! NO A\/B/)
  assert.equal(written.record.baseCommit, null)
  assert.equal(written.record.samples.length, 5, 'five head-only runs of the probe')
  assert.equal(status, 0)
})

test('a base that names no commit of this full clone fails: it is a mistake, not a missing base', () => {
  const { status, stdout, stderr, written } = gate(['--base', 'no-such-ref-anywhere'], empty)
  assert.equal(status, 1)
  assert.match(stderr, /--base no-such-ref-anywhere names no commit/)
  assert.doesNotMatch(stdout, /pair 1/, 'nothing measured')
  assert.equal(written, undefined)
})

test('the same run fails when the head is far worse than the committed baseline', () => {
  // A log read 1,000x faster than anything this machine does: the head is "worse" by far.
  const fast = { ...empty, timed: { log_read_gbps: { value: 1_000, unit: 'GB/s', better: 'higher' } } }
  const { status, stdout } = gate(['--no-base'], fast)
  assert.match(stdout, /FAIL\s+baseline\s+log_read_gbps/)
  assert.equal(status, 1)
})

test('bad arguments exit 2 and measure nothing', () => {
  assert.equal(gate(['--pairs', '3'], empty).status, 2)
  assert.equal(gate(['--only', 'nope'], empty).status, 2)
})
