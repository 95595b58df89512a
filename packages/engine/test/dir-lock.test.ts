// Proves one engine per data directory across processes: a second process is refused with
// DIRECTORY_LOCKED while the first lives, and a SIGKILL of the holder frees the directory.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ErrorCode, openEngine } from '../src/index.ts'
import { assertCode, tempDir } from './helpers.ts'

const holder = fileURLToPath(new URL('./fixtures/hold-engine.ts', import.meta.url))

test('a directory held by another process is refused, and freed when that process is killed', async () => {
  const { dir, cleanup } = tempDir()
  const child = spawn(process.execPath, ['--import', 'tsx', holder, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    let output = ''
    child.stdout.setEncoding('utf8')
    while (!output.includes('\n')) {
      const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [string]
      assert.equal(typeof chunk, 'string', 'the holder exited before it was ready')
      output += chunk
    }
    const handle = output.trim().split(' ')[1] as string
    await assertCode(() => openEngine({ dir }), ErrorCode.DIRECTORY_LOCKED)
    child.kill('SIGKILL')
    await once(child, 'exit')
    const engine = await openEngine({ dir })
    assert.equal(engine.fetchLatestOffset(handle).toString(), '1_0')
    await engine.close()
  } finally {
    child.kill('SIGKILL')
    cleanup()
  }
})
