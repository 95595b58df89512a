// Proves close() on the worker runtime drains the writers, stops every thread and releases the
// directory: the process exits by itself, and everything issued before close() is on disk.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'

const child = fileURLToPath(new URL('./fixtures/close-and-exit.ts', import.meta.url))

test('after close the process exits on its own, with the writes drained', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-close-'))
  try {
    // A liveness bound, not a timing assertion: a process kept alive by a thread never exits.
    const run = spawnSync(process.execPath, ['--import', 'tsx', child, dir], { encoding: 'utf8', timeout: 60_000 })
    assert.equal(run.signal, null, 'the process had to be killed: something kept it alive after close()')
    assert.equal(run.status, 0, run.stderr)
    assert.equal(run.stdout.trim(), 'closed ENGINE_CLOSED')
    const engine = await openEngine({ dir, runtime: workerRuntime({ writers: 2 }) })
    for (const { handle } of engine.listShapes()) assert.equal(engine.fetchLatestOffset(handle).toString(), '50_0')
    assert.equal(engine.countShapes(), 4)
    await engine.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
