// Proves workerRuntime() rejects every malformed option with INVALID_OPTION when it is called:
// before openEngine runs, so nothing is created on disk and no thread starts.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { EngineError, ErrorCode, openEngine } from '@shapestore/engine'
import { workerRuntime } from '../src/index.ts'

const BAD_OPTIONS: ReadonlyArray<readonly [string, unknown]> = [
  ['null', null],
  ['a number', 2],
  ['a string', 'writers=2'],
  ['an unknown (misspelt) option', { writer: 2 }],
  ...(['writers', 'readers'] as const).flatMap((name) => [
    [`${name} 0`, { [name]: 0 }] as const,
    [`${name} negative`, { [name]: -1 }] as const,
    [`${name} fractional`, { [name]: 1.5 }] as const,
    [`${name} NaN`, { [name]: Number.NaN }] as const,
    [`${name} Infinity`, { [name]: Number.POSITIVE_INFINITY }] as const,
    [`${name} a string`, { [name]: '2' }] as const,
    [`${name} 65 (over the max)`, { [name]: 65 }] as const,
    [`${name} 10^6`, { [name]: 1e6 }] as const,
  ]),
  ...(['writerMemoryMb', 'readerMemoryMb'] as const).flatMap((name) => [
    [`${name} 0`, { [name]: 0 }] as const,
    [`${name} 15 (under 16)`, { [name]: 15 }] as const,
    [`${name} negative`, { [name]: -64 }] as const,
    [`${name} NaN`, { [name]: Number.NaN }] as const,
    [`${name} a string`, { [name]: '64' }] as const,
    [`${name} 2^40 (absurd)`, { [name]: 2 ** 40 }] as const,
  ]),
  ['tableCapacity 0', { tableCapacity: 0 }],
  ['tableCapacity negative', { tableCapacity: -1 }],
  ['tableCapacity fractional', { tableCapacity: 10.5 }],
  ['tableCapacity NaN', { tableCapacity: Number.NaN }],
  ['tableCapacity over 2^20', { tableCapacity: 2 ** 20 + 1 }],
  ['tableCapacity a string', { tableCapacity: '1000' }],
  ['readPathKeys 0', { readPathKeys: 0 }],
  ['readPathKeys fractional', { readPathKeys: 4.5 }],
  ['readPathKeys over 2^26', { readPathKeys: 2 ** 26 + 1 }],
  ['readPathKeys a string', { readPathKeys: '1000' }],
  ['onWriterCrash a string', { onWriterCrash: 'log' }],
  ['onWriterCrash an object', { onWriterCrash: {} }],
  ['writerEntry a string', { writerEntry: './writer-worker.ts' }],
]

test('workerRuntime: malformed options are INVALID_OPTION at the call; a valid runtime works afterwards', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-bad-options-'))
  try {
    for (const [name, options] of BAD_OPTIONS) {
      assert.throws(
        () => workerRuntime(options as never),
        (error: unknown) => error instanceof EngineError && error.code === ErrorCode.INVALID_OPTION,
        name,
      )
    }
    // Nothing was created, and a valid runtime opens and writes.
    assert.equal(existsSync(join(dir, 'engine')), false)
    const engine = await openEngine({ dir: join(dir, 'engine'), runtime: workerRuntime({ writers: 1, readers: 1 }) })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.appendToLog(handle, [{ offset: '1_0', key: 'k', op: 'insert', json: '{}' }])
    assert.equal(engine.fetchLatestOffset(handle).toString(), '1_0')
    await engine.close()
    console.log(`workerRuntime: ${BAD_OPTIONS.length} malformed options rejected`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
