import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startStreamsServer } from '../src/index.ts'

/**
 * The official Durable Streams conformance suite (@durable-streams/server-conformance-tests,
 * pinned in package.json) against this server, on each runtime: vitest runs it in a child
 * process (conformance.spec.ts) against a server in this one, and this test asserts on its
 * JSON report. Every test of the suite must pass; the suite itself skips 6 (reserved
 * subscription APIs, which it runs only when asked to).
 */
const SUITE_TESTS = 338
const SUITE_SKIPPED = 6

for (const [runtime, writers] of [
  ['inline', 0],
  ['workers', 2],
] as const) {
  test(`the conformance suite passes on the ${runtime} runtime`, { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'streams-conformance-'))
    const server = await startStreamsServer({ dir, writers, longPollTimeoutMs: 1_000, sseConnectionMs: 5_000 })
    try {
      const report = join(dir, 'report.json')
      const run = await runVitest(server.url, report)
      const results = JSON.parse(readFileSync(report, 'utf8')) as VitestReport
      const failed = results.testResults
        .flatMap((file) => file.assertionResults)
        .filter((result) => result.status === 'failed')
        .map((result) => result.fullName)
      assert.deepEqual(failed, [], `failed tests:\n${failed.join('\n')}\n${run.slice(-4_000)}`)
      assert.equal(results.numTotalTests, SUITE_TESTS)
      assert.equal(results.numPassedTests, SUITE_TESTS - SUITE_SKIPPED)
    } finally {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

interface VitestReport {
  numTotalTests: number
  numPassedTests: number
  testResults: Array<{ assertionResults: Array<{ status: string; fullName: string }> }>
}

/** Runs the suite; resolves with its console output. Asynchronous: the server answers in this process meanwhile. */
async function runVitest(url: string, report: string): Promise<string> {
  const vitest = join(import.meta.dirname, '..', 'node_modules', 'vitest', 'vitest.mjs')
  const child = spawn(
    process.execPath,
    [vitest, 'run', 'test/conformance.spec.ts', '--reporter=json', `--outputFile=${report}`, '--reporter=dot'],
    {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, STREAMS_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  await new Promise((resolve) => child.once('close', resolve))
  return output
}
