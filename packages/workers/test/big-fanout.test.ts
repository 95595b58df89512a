// Proves a fanout bigger than a turn's early-send size (TURN_FLUSH_BYTES) goes through whole on
// the worker runtime: appendToLogs encodes every shape's transaction before it queues any, and
// sending the turn early once used to detach the bytes of the ones not queued yet (a TypeError
// from the call, after some shapes had been sent theirs; `pnpm bench write-fanout`, distinct
// copies into 3,100 shapes).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'
import { TURN_FLUSH_BYTES } from '../src/transfer-frames.ts'

const SHAPES = 400
const ROWS = 30
const ROW_PAD = 1_000

test('an appendToLogs of distinct transactions over several MiB reaches every shape', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-big-fanout-'))
  const engine = await openEngine({ dir, partitions: 4, runtime: workerRuntime({ writers: 2 }) })
  try {
    const handles: string[] = []
    for (let i = 0; i < SHAPES; i++)
      handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
    // Each shape its own copy of the rows (no shared record): SHAPES separate encodings.
    const entries = handles.map((handle, i) => ({
      handle,
      items: Array.from({ length: ROWS }, (_, op) => ({
        offset: `7_${op}`,
        key: `"public"."items"/"${i}-${op}"`,
        op: 'insert' as const,
        json: JSON.stringify({ shape: i, op, pad: 'x'.repeat(ROW_PAD) }),
      })),
    }))
    assert.ok(SHAPES * ROWS * ROW_PAD > 2 * TURN_FLUSH_BYTES, 'the call encodes more than the early-send size')
    await engine.appendToLogs(entries)
    for (const [i, handle] of handles.entries()) {
      assert.equal(engine.fetchLatestOffset(handle).toString(), `7_${ROWS - 1}`)
      const rows = JSON.parse((await engine.getLogJson(handle, '0_inf')).toString()) as Array<{ shape: number }>
      assert.equal(rows.length, ROWS)
      assert.ok(
        rows.every((row) => row.shape === i),
        `shape ${i} holds another shape's rows`,
      )
    }
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

for (const writers of [1, 2]) {
  test(`one items array over several MiB, for shapes in several partitions, reaches every one (${writers} writer threads)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shapestore-big-shared-'))
    const engine = await openEngine({ dir, partitions: 4, runtime: workerRuntime({ writers }) })
    try {
      const handles: string[] = []
      for (let i = 0; i < 8; i++)
        handles.push((await engine.getOrCreateShape({ table: 'items', where: `k = ${i}` })).handle)
      // Shared by every shape: encoded once, sent to each partition. In the first partition's
      // writer buffers, it was detached when that writer's turn went out early (a 4 MiB turn),
      // and the next partition's copy threw a TypeError with no code, after the first was sent.
      const items = Array.from({ length: 5 }, (_, op) => ({
        offset: `10_${op}`,
        key: `"public"."items"/"${op}"`,
        op: 'insert' as const,
        json: JSON.stringify({ op, pad: 'y'.repeat(1024 * 1024) }),
      }))
      assert.ok(5 * 1024 * 1024 > TURN_FLUSH_BYTES)
      await engine.appendToLogs(handles.map((handle) => ({ handle, items })))
      for (const handle of handles) {
        assert.equal(engine.fetchLatestOffset(handle).toString(), '10_4')
        const rows = JSON.parse((await engine.getLogJson(handle, '0_inf')).toString()) as Array<{ op: number }>
        assert.deepEqual(
          rows.map((row) => row.op),
          [0, 1, 2, 3, 4],
        )
      }
    } finally {
      await engine.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
