// Proves the verify command behaves like a tool: `--dir D` (the flag the example servers take)
// or `D`, usage on --help (exit 0) and on misuse (exit 2), a one-line error and exit 2 for a
// directory it cannot check, never a stack trace.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openEngine } from '../src/index.ts'

const cli = fileURLToPath(new URL('../src/integrity/verify-cli.ts', import.meta.url))

function verify(...args: string[]) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8' })
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace')
  return run
}

test('verify: --dir or a lone directory, usage on --help and on misuse, exit codes 0/2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'verify-cli-'))
  try {
    const engine = await openEngine({ dir, partitions: 2 })
    await engine.getOrCreateShape({ table: 'items' })
    await engine.close()

    for (const args of [['--dir', dir], [dir]]) {
      const run = verify(...args)
      assert.equal(run.status, 0, run.stderr)
      assert.match(run.stdout, /^ok {7}\S+catalog/m)
      assert.doesNotMatch(run.stdout, /DAMAGED/)
    }
    const help = verify('--help')
    assert.equal(help.status, 0)
    assert.match(help.stdout, /^usage: shapestore-verify --dir/)
    for (const args of [[], ['--bogus'], ['--dir'], [dir, dir], ['--dir', dir, dir]]) {
      const run = verify(...args)
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`)
      assert.match(run.stderr, /usage: shapestore-verify --dir/)
    }
    const missing = verify('--dir', join(dir, 'no-such-dir'))
    assert.equal(missing.status, 2)
    assert.match(missing.stderr, /^shapestore-verify: INVALID_OPTION: .*does not exist\n$/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
