import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Starts a worker thread whose entry is a TypeScript module. Our packages ship TypeScript
 * source run through tsx, and on Node 20 a worker's entry module does not get the hooks that
 * `--import tsx` installs (measured: `new Worker(url-of-.ts)` fails with "Unknown file
 * extension .ts", with or without execArgv). So the thread starts from a one-line bootstrap
 * that registers tsx in itself, then imports the entry.
 */
const tsxApi = import.meta.resolve('tsx/esm/api')

export function startTsWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(bootstrap, { ...options, eval: true })
}
