import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type AppendArgs,
  EngineError,
  type ErrorCode,
  encodeTransaction,
  type LogItem,
  type ShapeRef,
  transactionAppend,
} from '../src/index.ts'

/** A fresh directory under the OS temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'shapestore-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A PartitionWriter's append of one transaction of `items` to `refs` (all in partition 0). */
export function appendOf(items: readonly LogItem[], refs: readonly ShapeRef[]): AppendArgs {
  return { partition: 0, transactions: [transactionAppend(encodeTransaction(items), refs, true)] }
}

/** Asserts that `action` throws (or rejects with) an EngineError with `code`. */
export async function assertCode(action: () => unknown, code: ErrorCode): Promise<void> {
  await assert.rejects(
    async () => action(),
    (error: unknown) => {
      assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`)
      assert.equal(error.code, code, error.message)
      return true
    },
  )
}

export async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const rows: string[] = []
  for await (const row of stream) rows.push(row)
  return rows
}

/** One transaction's items at tx `tx`, ops 0, 2, 4 ... with JSON `{"tx":..,"op":..,"v":..}`. */
export function txItems(
  tx: number,
  count: number,
  tag = 'v',
): Array<{ offset: string; key: string; op: 'insert'; json: string }> {
  return Array.from({ length: count }, (_, i) => ({
    offset: `${tx}_${i * 2}`,
    key: `"public"."items"/"${tx}-${i}"`,
    op: 'insert' as const,
    json: JSON.stringify({ tx, op: i * 2, v: tag }),
  }))
}

export interface Deferred {
  readonly promise: Promise<void>
  resolve(): void
}

/** A promise and the function that resolves it (Promise.withResolvers is Node 22). */
export function deferred(): Deferred {
  let resolve!: () => void
  const promise = new Promise<void>((res) => {
    resolve = res
  })
  return { promise, resolve }
}
