export { READERS_MAX, ReaderPool, type ReaderPoolOptions, type ReadLogJsonRequest } from './reader-pool.ts'
export * from './shared-table/shared-table.ts'
export { type WorkerRuntimeOptions, WRITERS_MAX, workerRuntime } from './worker-runtime.ts'
