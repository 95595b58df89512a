// Proves one engine per data directory across processes: a second process is refused with
// DIRECTORY_LOCKED while the first lives (on either runtime, the holder's writer thread running),
// and a SIGKILL of the holder frees the directory. (The crash loop, packages/workers/test/crash,
// checks the refusal again in every round, against a child under load on the worker runtime.)
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { assertCode, tempDir } from './helpers.ts'

const holder = fileURLToPath(new URL('./fixtures/hold-engine.ts', import.meta.url))
const reporter = fileURLToPath(new URL('./fixtures/open-and-report.ts', import.meta.url))
const engineDir = fileURLToPath(new URL('..', import.meta.url))

/** Starts a holder process and resolves its handle once its engine has written. */
async function startHolder(dir: string, runtime: 'inline' | 'worker') {
  const child = spawn(process.execPath, ['--import', 'tsx', holder, dir, runtime], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.setEncoding('utf8')
  while (!output.includes('\n')) {
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [string]
    assert.equal(typeof chunk, 'string', 'the holder exited before it was ready')
    output += chunk
  }
  return { child, handle: output.trim().split(' ')[1] as string }
}

/** What a third process gets when it opens `dir` (see fixtures/open-and-report.ts). */
function openFromAnotherProcess(dir: string, runtime: 'inline' | 'worker'): { opened: boolean; code?: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', reporter, dir, runtime, '8'], {
    cwd: engineDir,
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(result.status, 0, result.stderr)
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string)
}

test('a directory held by another process is refused, and freed when that process is killed', async () => {
  const { dir, cleanup } = tempDir()
  const { child, handle } = await startHolder(dir, 'inline')
  try {
    await assertCode(() => openEngine({ dir }), ErrorCode.DIRECTORY_LOCKED)
    // `pnpm verify` would read files under a live writer: it is refused too.
    await assertCode(() => verifyStore(dir), ErrorCode.DIRECTORY_LOCKED)
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

test('a holder on the worker runtime: other processes on either runtime are refused; SIGKILL frees the directory', {
  timeout: 120_000,
}, async () => {
  const { dir, cleanup } = tempDir()
  const { child, handle } = await startHolder(dir, 'worker')
  try {
    for (const runtime of ['inline', 'worker'] as const) {
      assert.deepEqual(
        { ...openFromAnotherProcess(dir, runtime), message: undefined },
        { opened: false, code: ErrorCode.DIRECTORY_LOCKED, message: undefined },
        `a ${runtime} engine in another process`,
      )
    }
    child.kill('SIGKILL')
    await once(child, 'exit')
    const after = openFromAnotherProcess(dir, 'worker')
    assert.deepEqual(after, { opened: true, shapes: { [handle]: 1 } })
  } finally {
    child.kill('SIGKILL')
    cleanup()
  }
})
