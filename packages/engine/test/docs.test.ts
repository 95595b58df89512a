// Proves the package README's error table lists exactly the engine's error codes.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ErrorCode } from '../src/index.ts'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8')

test("the README's error table lists exactly the error codes", () => {
  const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('## On-disk layout'))
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1])
  assert.deepEqual([...documented].sort(), Object.values(ErrorCode).sort())
})
