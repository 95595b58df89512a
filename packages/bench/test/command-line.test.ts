// Proves the bench's commands behave like tools: usage on --help (exit 0), the problem and the
// usage on a bad flag or argument (exit 2), never a stack trace.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const commands = {
  'pnpm bench': fileURLToPath(new URL('../src/cli.ts', import.meta.url)),
  'pnpm bench:gate': fileURLToPath(new URL('../src/gate/cli.ts', import.meta.url)),
  'pnpm bench:gate:selftest': fileURLToPath(new URL('../src/gate/selftest.ts', import.meta.url)),
}
const misuse: Record<keyof typeof commands, string[][]> = {
  'pnpm bench': [['--bogus'], ['--shapes', '3'], ['no-such-scenario']],
  'pnpm bench:gate': [['--bogus'], ['--pairs', '2'], ['--only', 'no-such-probe']],
  'pnpm bench:gate:selftest': [['--bogus'], ['--paths', 'no-such-path'], ['--runs', '0']],
}

function run(file: string, args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { encoding: 'utf8', timeout: 60_000 })
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`)
  return result
}

for (const [name, file] of Object.entries(commands) as [keyof typeof commands, string][]) {
  test(`${name}: --help prints the usage; misuse prints it too and exits 2`, () => {
    const help = run(file, ['--help'])
    assert.equal(help.status, 0)
    assert.match(help.stdout, new RegExp(`^usage: ${name} `))
    for (const args of misuse[name]) {
      const bad = run(file, args)
      assert.equal(bad.status, 2, `${name} ${args.join(' ')}: ${bad.stderr}`)
      assert.match(bad.stderr, /usage: /, `${name} ${args.join(' ')}`)
    }
  })
}
