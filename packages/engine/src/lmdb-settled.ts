/**
 * Awaits an lmdb-js async write. When its commit fails, lmdb-js rejects the write's promise and
 * also a second promise, reachable only as `error.commitError`, that nobody handles (lmdb-js
 * issue #368): handled here, so a failed commit is one rejection, not a process exit. Exported
 * for servers that keep databases of their own beside the engine (the examples do).
 */
export async function lmdbSettled<T>(write: Promise<T>): Promise<T> {
  try {
    return await write
  } catch (error) {
    const commitError = (error as { commitError?: unknown }).commitError
    if (commitError instanceof Promise) commitError.catch(() => {})
    throw error
  }
}
