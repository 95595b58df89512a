/**
 * piscina's task module for the reader pool: a JavaScript shim that loads reader-task.ts.
 *
 * Why a shim: piscina starts every thread from its own worker.js and then loads the task
 * module with require(), falling back to import(). Measured on Node 20.20 with piscina 5.3.2:
 * - a parent started with `--import tsx` passes that flag to its threads, and a .ts task
 *   module loads directly;
 * - a parent that registered tsx another way (the tsx API, a test runner) does not, and the
 *   thread fails with "Unknown file extension .ts";
 * - a shim with a top-level await breaks in its own way: Node 20.19+ require()s ES modules,
 *   so piscina's require() starts evaluating the shim, gives up on the top-level await
 *   (ERR_REQUIRE_ASYNC_MODULE) and imports it again; when tsx was not preloaded, the orphaned
 *   first evaluation then fails with "Unknown file extension .ts" as an uncaught error in the
 *   thread (a pool 'error' event, fatal without a listener).
 * So this module has no top-level await: it starts loading the task when evaluated, registers
 * tsx in this thread only if TypeScript does not load yet (no second loader when tsx is
 * already there), and the exported handlers wait for the load.
 */
const loading = loadTask()
// Surfaces through the first read's rejection, not as an unhandled rejection of the thread.
loading.catch(() => {})

async function loadTask() {
  try {
    return await import('./reader-task.ts')
  } catch (error) {
    if (error?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error
  }
  const { register } = await import('tsx/esm/api')
  register()
  // A query makes it a new module record: the failed import above stays cached as failed.
  return await import('./reader-task.ts?tsx')
}

export default async function readLogJson(request) {
  return (await loading).default(request)
}

/** Run once per thread by ReaderPool.start(), so no read waits for the task to load (reader-task.ts). */
export async function warmUp(barrier) {
  return (await loading).warmUp(barrier)
}
