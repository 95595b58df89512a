// Proves close() releases everything: after it, a process that used the engine exits by itself.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openEngine } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const child = fileURLToPath(new URL('./fixtures/close-and-exit.ts', import.meta.url))

test('a process exits on its own after close, with pending waits rejected and writes kept', async () => {
  const { dir, cleanup } = tempDir()
  try {
    // A liveness bound, not a timing assertion: a process kept alive by the engine never exits.
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, dir], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(run.signal, null, 'the process had to be killed: something kept it alive after close()')
    assert.equal(run.status, 0, run.stderr)
    assert.equal(run.stdout.trim(), 'closed ENGINE_CLOSED')
    const engine = await openEngine({ dir })
    const [shape] = [...engine.listShapes()]
    assert.equal(engine.fetchLatestOffset(shape?.handle as string).toString(), '100_0')
    await engine.close()
  } finally {
    cleanup()
  }
})
