import { readFileSync } from 'node:fs'

/**
 * CPU time, to tell how a runtime spends its cores: the calling thread's own (Linux's
 * /proc/thread-self/schedstat, nanosecond precision; Node 20 has no process.threadCpuUsage)
 * and the whole process's. What the process spent beyond the main thread is the other
 * threads': the writer threads, plus V8's and libuv's helpers.
 *
 * On a machine without /proc the thread figure is NaN (the report shows it; nothing gates it).
 */
export function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

export function processCpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
