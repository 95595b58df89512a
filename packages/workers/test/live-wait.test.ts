// Proves live waits at scale on the worker runtime: 10,000 waiters on one shape all wake on one
// commit; timeouts and aborts settle their waiters and leave nothing registered behind.
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { EngineError, ErrorCode, openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'

async function withEngine(body: (engine: Awaited<ReturnType<typeof openEngine>>, handle: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-live-'))
  const engine = await openEngine({ dir, runtime: workerRuntime({ writers: 2 }) })
  try {
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.appendToLog(handle, [{ offset: '1_0', key: 'k', op: 'insert', json: '{}' }])
    await body(engine, handle)
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const append = (tx: number) => [{ offset: `${tx}_0`, key: 'k', op: 'update' as const, json: `{"tx":${tx}}` }]

test('10,000 waiters on one shape wake on one commit', () =>
  withEngine(async (engine, handle) => {
    const waiters = Array.from({ length: 10_000 }, () => engine.waitForOffset(handle, '1_0', { timeoutMs: 30_000 }))
    assert.equal(engine.stats().waiters, 10_000)
    await engine.appendToLog(handle, append(2))
    const results = await Promise.all(waiters)
    assert.equal(results.filter((moved) => moved).length, 10_000)
    assert.equal(engine.stats().waiters, 0)
  }))

test('waiters for a later offset keep waiting through earlier commits', () =>
  withEngine(async (engine, handle) => {
    const later = Array.from({ length: 1_000 }, () => engine.waitForOffset(handle, '3_0', { timeoutMs: 30_000 }))
    await engine.appendToLog(handle, append(2))
    await engine.appendToLog(handle, append(3))
    assert.equal(engine.stats().waiters, 1_000, 'nobody woke before the shape passed 3_0')
    await engine.appendToLog(handle, append(4))
    assert.deepEqual(new Set(await Promise.all(later)), new Set([true]))
  }))

test('timeouts resolve false and clean up', () =>
  withEngine(async (engine, handle) => {
    const waiters = Array.from({ length: 5_000 }, () => engine.waitForOffset(handle, '1_0', { timeoutMs: 20 }))
    assert.deepEqual(new Set(await Promise.all(waiters)), new Set([false]))
    assert.equal(engine.stats().waiters, 0)
  }))

test('aborts reject with ABORTED, clean up, and leave no listener on the signal', () =>
  withEngine(async (engine, handle) => {
    const controller = new AbortController()
    const aborted = Array.from({ length: 5_000 }, () =>
      engine.waitForOffset(handle, '1_0', { timeoutMs: 30_000, signal: controller.signal }),
    )
    const other = new AbortController()
    const woken = engine.waitForOffset(handle, '1_0', { timeoutMs: 30_000, signal: other.signal })
    controller.abort()
    const results = await Promise.allSettled(aborted)
    assert.ok(
      results.every(
        (r) => r.status === 'rejected' && r.reason instanceof EngineError && r.reason.code === ErrorCode.ABORTED,
      ),
    )
    assert.equal(engine.stats().waiters, 1)
    await engine.appendToLog(handle, append(2))
    assert.equal(await woken, true)
    assert.equal(getEventListeners(other.signal, 'abort').length, 0, 'a settled waiter removes its abort listener')
    assert.equal(engine.stats().waiters, 0)
  }))
