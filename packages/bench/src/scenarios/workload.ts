import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Engine, inlineRuntime, type Runtime } from '@shapestore/engine'
import { workerRuntime } from '@shapestore/workers'
import type { ScenarioContext } from '../scenario.ts'

export { ROW_BYTES, ROWS_PER_TRANSACTION, rowJson, rowPool, transactionItems } from '../rows.ts'

/**
 * What the write and read scenarios share: the rows and transactions (rows.ts), the runtimes
 * compared, and the scratch directories they write into.
 */

/** The runtimes the scenarios compare, by the name their figures carry. */
export const RUNTIMES = {
  inline: (): Runtime => inlineRuntime(),
  workers1: (): Runtime => workerRuntime({ writers: 1 }),
  workers2: (): Runtime => workerRuntime({ writers: 2 }),
} as const
export type RuntimeName = keyof typeof RUNTIMES

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

/**
 * Runs a probe script in a fresh process (`node [nodeArgs] --import tsx script ...args`, its
 * stderr passed through) and returns the JSON of the last line it printed: how every scenario
 * that measures in processes of their own gets one process's figures.
 */
export function runProbeProcess<T>(script: string, args: readonly string[], nodeArgs: readonly string[] = []): T {
  const run = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  if (run.status !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${run.status}`)
  return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as T
}
