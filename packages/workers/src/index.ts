export * from './shared-table/shared-table.ts'
export { type WorkerRuntimeOptions, WRITERS_MAX, workerRuntime } from './worker-runtime.ts'
