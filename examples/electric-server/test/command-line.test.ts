// Proves the example server's command line behaves like a tool: usage on --help (exit 0), the
// problem and the usage on a bad flag or value (exit 2), never a stack trace.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))

function run(args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 30_000 })
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`)
  return result
}

test('example:server: --help prints the usage; a bad flag or value prints it too and exits 2', () => {
  const help = run(['--help'])
  assert.equal(help.status, 0)
  assert.match(help.stdout, /^usage: pnpm example:server /)
  for (const args of [['--bogus'], ['--port', 'x'], ['--writers', '-1'], ['--port']]) {
    const bad = run(args)
    assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`)
    assert.match(bad.stderr, /usage: pnpm example:server/)
  }
})
