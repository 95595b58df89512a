// Proves the README matches the code: its error table lists exactly the engine's error codes,
// and its usage example runs as written against the package's public entry point.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ErrorCode } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(packageDir, '..', '..', 'README.md'), 'utf8')

test("the README's error table lists exactly the error codes", () => {
  const section = readme.slice(readme.indexOf('### Errors'), readme.indexOf('### On-disk layout'))
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1])
  assert.deepEqual([...documented].sort(), Object.values(ErrorCode).sort())
})

test("the README's usage example runs", () => {
  const example = /## Using the engine[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(example, 'the README has a ts example under "Using the engine"')
  const { dir, cleanup } = tempDir()
  // Inside the package, so '@shapestore/engine' resolves to this package (self-reference).
  const scratch = join(packageDir, '.tmp')
  mkdirSync(scratch, { recursive: true })
  const file = join(scratch, `readme-example-${process.pid}.mts`)
  try {
    writeFileSync(file, example.replace("'./data'", JSON.stringify(join(dir, 'data'))))
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: packageDir, encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /"key":"1"/, 'the snapshot row is streamed')
    assert.match(run.stdout, /"key":"2"/, 'the log row is streamed')
  } finally {
    rmSync(file, { force: true })
    cleanup()
  }
})
