// Proves the crash loop's and the soak's commands behave like tools: usage on --help (exit 0),
// the problem and the usage on a bad flag or value (exit 2), never a stack trace.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const commands = {
  'pnpm test:crash': {
    file: fileURLToPath(new URL('./crash/cli.ts', import.meta.url)),
    misuse: [['--bogus'], ['--rounds', '0'], ['--min-ms', '900', '--max-ms', '100'], ['--seed', 'x']],
  },
  'pnpm soak': {
    file: fileURLToPath(new URL('../soak/run-soak.ts', import.meta.url)),
    misuse: [['--bogus'], ['--runtime', 'threads'], ['--minutes', '0']],
  },
}

function run(file: string, args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { encoding: 'utf8', timeout: 60_000 })
  assert.doesNotMatch(result.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`)
  return result
}

for (const [name, { file, misuse }] of Object.entries(commands)) {
  test(`${name}: --help prints the usage; misuse prints it too and exits 2`, () => {
    const help = run(file, ['--help'])
    assert.equal(help.status, 0, help.stderr)
    assert.match(help.stdout, new RegExp(`^usage: ${name} `))
    for (const args of misuse) {
      const bad = run(file, args)
      assert.equal(bad.status, 2, `${name} ${args.join(' ')}: ${bad.stderr}`)
      assert.match(bad.stderr, /usage: /, `${name} ${args.join(' ')}`)
    }
  })
}
