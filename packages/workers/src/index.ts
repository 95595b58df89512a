export { type WorkerRuntimeOptions, WRITERS_MAX, workerRuntime } from './worker-runtime.ts'
