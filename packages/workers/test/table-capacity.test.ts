// Proves a full shared table fails nothing: 150,000 shapes on the worker runtime with default
// options (a table of TABLE_CAPACITY_DEFAULT = 100,000), every one written and read, before and
// after a restart; and that shapes whose publishes were dropped read their newest keys, before
// and after a removal frees room. (The race a dropped publish opens is interleaved step by step
// in shared-table.test.ts: here the engine's fill is synchronous and the window microseconds.)
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { type Engine, type LogItem, openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'
import { TABLE_CAPACITY_DEFAULT } from '../src/shared-table/layout.ts'

const SHAPES = 150_000
const BATCH = 10_000

/** Runs `run` on a fresh directory, removed afterwards. */
async function inScratchDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'table-capacity-'))
  try {
    await run(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function item(tx: number): LogItem[] {
  return [{ offset: `${tx}_0`, key: `"public"."items"/"${tx}"`, op: 'insert', json: `{"value":{"id":"${tx}"}}` }]
}

async function createShapes(engine: Engine, count: number): Promise<string[]> {
  const handles: string[] = []
  for (let from = 0; from < count; from += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, count - from) }, (_, i) =>
        engine.getOrCreateShape({ table: 'items', where: `id = ${from + i}` }),
      ),
    )
    for (const { handle } of batch) handles.push(handle)
  }
  return handles
}

async function appendToAll(engine: Engine, handles: readonly string[], tx: number): Promise<void> {
  const items = item(tx)
  for (let from = 0; from < handles.length; from += BATCH) {
    await engine.appendToLogs(handles.slice(from, from + BATCH).map((handle) => ({ handle, items })))
  }
}

function assertAllAt(engine: Engine, handles: readonly string[], offset: string): void {
  let wrong = 0
  for (const handle of handles) if (engine.fetchLatestOffset(handle).toString() !== offset) wrong++
  assert.equal(wrong, 0, `${wrong} of ${handles.length} shapes not at ${offset}`)
}

test(`${SHAPES} shapes on the worker runtime with default options: every write and read succeeds, before and after a restart`, {
  timeout: 300_000,
}, async () => {
  assert.ok(SHAPES > TABLE_CAPACITY_DEFAULT, 'the test must pass the default capacity')
  await inScratchDir(async (dir) => {
    const engine = await openEngine({ dir, runtime: workerRuntime() })
    let handles: string[]
    try {
      handles = await createShapes(engine, SHAPES)
      await appendToAll(engine, handles, 1)
      assertAllAt(engine, handles, '1_0')
      await appendToAll(engine, handles, 2)
      assertAllAt(engine, handles, '2_0')
    } finally {
      await engine.close()
    }
    const reopened = await openEngine({ dir, runtime: workerRuntime() })
    try {
      assertAllAt(reopened, handles, '2_0') // every first read a miss, kept unslotted (a read takes no slot)
      await appendToAll(reopened, handles.slice(-1_000), 3)
      assertAllAt(reopened, handles.slice(-1_000), '3_0')
      assertAllAt(reopened, handles.slice(0, -1_000), '2_0')
    } finally {
      await reopened.close()
    }
  })
})

test('a shape whose publish found no room reads its newest keys, before and after a removal frees room', {
  timeout: 60_000,
}, async () => {
  await inScratchDir(async (dir) => {
    const engine = await openEngine({ dir, runtime: workerRuntime({ tableCapacity: 10, writers: 1 }) })
    try {
      const handles = await createShapes(engine, 20)
      await appendToAll(engine, handles, 1)
      assertAllAt(engine, handles, '1_0') // the first 10 hold the slots; the others are kept unslotted
      await appendToAll(engine, handles, 2) // the publishes of the others are dropped, and so are their 1_0 keys
      assertAllAt(engine, handles, '2_0')
      await engine.removeShape(handles[0] as string)
      // With room again, the next operation takes the freed slot: with 2_0, never an older value.
      assertAllAt(engine, handles.slice(1), '2_0')
      await appendToAll(engine, handles.slice(1), 3)
      assertAllAt(engine, handles.slice(1), '3_0')
    } finally {
      await engine.close()
    }
  })
})

test('with 4 read-path keys kept for 12 shapes on the worker runtime, every read is exact while entries come and go', {
  timeout: 60_000,
}, async () => {
  await inScratchDir(async (dir) => {
    // Written shapes take slots; reads after a restart take none, and only 4 of them are kept.
    const engine = await openEngine({ dir, runtime: workerRuntime({ readPathKeys: 4, writers: 1 }) })
    let handles: string[]
    try {
      handles = await createShapes(engine, 12)
      await appendToAll(engine, handles, 1)
    } finally {
      await engine.close()
    }
    const reopened = await openEngine({ dir, runtime: workerRuntime({ readPathKeys: 4, writers: 1 }) })
    try {
      for (let pass = 0; pass < 2; pass++) assertAllAt(reopened, handles, '1_0')
      assert.ok(reopened.stats().readPathMisses >= 24, 'the second pass missed too: entries went')
      await appendToAll(reopened, handles, 2) // every shape takes a slot now
      for (let pass = 0; pass < 2; pass++) assertAllAt(reopened, handles, '2_0')
    } finally {
      await reopened.close()
    }
  })
})
