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
