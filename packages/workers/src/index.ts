export { READERS_MAX, ReaderPool, type ReaderPoolOptions, type ReadLogJsonRequest } from './reader-pool.ts'
export * from './shared-table/shared-table.ts'
export { type WorkerRuntimeOptions, workerRuntime } from './worker-runtime.ts'
export { WRITERS_MAX } from './worker-runtime-options.ts'
