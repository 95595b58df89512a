// Proves the README's usage example runs as written, against the packages' public entry points.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(packageDir, '..', '..', 'README.md'), 'utf8')

test("the README's usage example runs", () => {
  const example = /## Using the engine[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(example, 'the README has a ts example under "Using the engine"')
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-readme-'))
  // Inside this package, so '@shapestore/engine' and '@shapestore/workers' resolve as a user's would.
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
    rmSync(dir, { recursive: true, force: true })
  }
})
