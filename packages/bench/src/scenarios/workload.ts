import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Engine, inlineRuntime, type LogItem, type Runtime } from '@shapestore/engine'
import { workerRuntime } from '@shapestore/workers'
import type { ScenarioContext } from '../scenario.ts'

/**
 * What the write and read scenarios share: the row and transaction shape ARCHITECTURE.md's
 * goals are stated for (≈200-byte rows, 50-row transactions), the runtimes compared, and the
 * scratch directories they write into.
 */

/** Bytes of one row's JSON: every row is padded to exactly this. */
export const ROW_BYTES = 200
export const ROWS_PER_TRANSACTION = 50

/** The runtimes the scenarios compare, by the name their figures carry. */
export const RUNTIMES = {
  inline: (): Runtime => inlineRuntime(),
  workers1: (): Runtime => workerRuntime({ writers: 1 }),
  workers2: (): Runtime => workerRuntime({ writers: 2 }),
} as const
export type RuntimeName = keyof typeof RUNTIMES

/** A client-ready change row of exactly ROW_BYTES bytes (ASCII, so length == bytes). */
export function rowJson(id: string): string {
  const head = `{"key":"\\"public\\".\\"items\\"/\\"${id}\\"","value":{"id":"${id}","body":"`
  const tail = '"},"headers":{"operation":"insert"}}'
  const pad = ROW_BYTES - head.length - tail.length
  if (pad < 0) throw new Error(`row id ${id} is too long for a ${ROW_BYTES}-byte row`)
  return `${head}${'x'.repeat(pad)}${tail}`
}

/**
 * `count` distinct rows to draw from. Building a row per item would make the benchmark's own
 * string work compete with the engine for the main thread; the engine stores the bytes as
 * given, so reusing a pool of rows changes nothing it does.
 */
export function rowPool(count: number): string[] {
  return Array.from({ length: count }, (_, i) => rowJson(`pool-${i}`))
}

/**
 * One source transaction `tx` of ROWS_PER_TRANSACTION inserts, offsets `tx_0`..`tx_49` in the
 * string form the README's API example uses (so the engine parses them, as it would for a
 * server relaying offsets as text).
 */
export function transactionItems(tx: number, pool: readonly string[]): LogItem[] {
  const items: LogItem[] = new Array(ROWS_PER_TRANSACTION)
  for (let op = 0; op < ROWS_PER_TRANSACTION; op++) {
    items[op] = {
      offset: `${tx}_${op}`,
      key: `"public"."items"/"${tx}-${op}"`,
      op: 'insert',
      json: pool[(tx * ROWS_PER_TRANSACTION + op) % pool.length] as string,
    }
  }
  return items
}

/** Creates `count` shapes on one table (concurrently: their catalog writes share commits); returns their handles. */
export async function createShapes(engine: Engine, count: number): Promise<string[]> {
  const created = await Promise.all(
    Array.from({ length: count }, (_, i) => engine.getOrCreateShape({ table: 'items', where: `shape = ${i}` })),
  )
  return created.map(({ handle }) => handle)
}

/**
 * A scratch data directory for one scenario, emptied first. A fixed name rather than a fresh
 * temporary one, so a run that was killed before its cleanup (append-throughput writes
 * gigabytes) is cleaned up by the next run instead of piling up.
 */
export function scratchDir(context: ScenarioContext, name: string): string {
  const dir = join(context.dataDir, `${name}.tmp`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** Resolves after the current event turn: lets queued messages and timers run before a timed step. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
