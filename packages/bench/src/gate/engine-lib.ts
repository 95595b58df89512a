// The engine a probe measures, loaded from a checkout's sources by path: the head's probes time
// the base revision's engine exactly as they time the head's (Node's benchmark/compare.js runs
// one benchmark file against two node binaries the same way).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type * as EngineModule from '@shapestore/engine'
import type * as WorkersModule from '@shapestore/workers'

/** What the probes use of the engine's public API. */
export interface EngineLib {
  readonly openEngine: typeof EngineModule.openEngine
  readonly inlineRuntime: typeof EngineModule.inlineRuntime
  readonly workerRuntime: typeof WorkersModule.workerRuntime
  /** Absent in a revision that does not export it: the counter it gives is then absent too. */
  readonly encodeTransaction: typeof EngineModule.encodeTransaction | undefined
}

const ENTRIES = { engine: 'packages/engine/src/index.ts', workers: 'packages/workers/src/index.ts' } as const

export async function loadEngine(root: string): Promise<EngineLib> {
  for (const entry of Object.values(ENTRIES)) {
    if (!existsSync(join(root, entry))) throw new Error(`${root} has no ${entry}: its engine cannot be probed`)
  }
  const engine = (await import(pathToFileURL(join(root, ENTRIES.engine)).href)) as typeof EngineModule
  const workers = (await import(pathToFileURL(join(root, ENTRIES.workers)).href)) as typeof WorkersModule
  return {
    openEngine: engine.openEngine,
    inlineRuntime: engine.inlineRuntime,
    workerRuntime: workers.workerRuntime,
    encodeTransaction: typeof engine.encodeTransaction === 'function' ? engine.encodeTransaction : undefined,
  }
}
