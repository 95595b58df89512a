import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * This package runs from its TypeScript source in the workspace (tests, benchmarks, examples,
 * under tsx) and from compiled JavaScript once installed. A thread's entry module is found
 * beside the module that starts it, in the same form: `writer-worker.ts` next to a `.ts`
 * caller, `writer-worker.js` next to a `.js` one.
 */
export function siblingModule(name: string, callerUrl: string): URL {
  return new URL(`./${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl)
}

/**
 * Starts a worker thread on `entry`. Compiled JavaScript starts as it is. A TypeScript entry
 * (the workspace) needs tsx in the thread, and on Node 20 a worker's entry module does not get
 * the hooks that `--import tsx` installs (measured: `new Worker(url-of-.ts)` fails with "Unknown
 * file extension .ts", with or without execArgv); so it starts from a one-line bootstrap that
 * registers tsx in itself, then imports the entry. tsx is a development dependency: it is
 * resolved only here, only for a `.ts` entry.
 */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options)
  const tsxApi = import.meta.resolve('tsx/esm/api')
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return new Worker(bootstrap, { ...options, eval: true })
}
