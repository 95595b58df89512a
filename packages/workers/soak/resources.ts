import { readFileSync } from 'node:fs'

/**
 * What a process holds that could leak past engine.close(): libuv handles and requests (timers,
 * message ports, file requests: process.getActiveResourcesInfo()) and OS threads (worker and
 * reader threads; Linux /proc only, else null).
 */
export interface Resources {
  readonly active: ReadonlyMap<string, number>
  readonly osThreads: number | null
}

export function resources(): Resources {
  const active = new Map<string, number>()
  for (const type of process.getActiveResourcesInfo()) active.set(type, (active.get(type) ?? 0) + 1)
  return { active, osThreads: osThreads() }
}

/** Anonymous (non file-backed) resident memory in bytes: heaps of every thread and native allocations, without LMDB's mapped file pages. Linux only. */
export function anonymousRss(): number | null {
  try {
    const match = /^Anonymous:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))
    return match === null ? null : Number(match[1]) * 1024
  } catch {
    return null
  }
}

export function osThreads(): number | null {
  try {
    const match = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return match === null ? null : Number(match[1])
  } catch {
    return null
  }
}

/** What `after` holds beyond `before`: each resource type whose count grew, and threads. */
export function leaked(before: Resources, after: Resources): string[] {
  const found: string[] = []
  for (const [type, count] of after.active) {
    const was = before.active.get(type) ?? 0
    if (count > was) found.push(`${type}: ${was} -> ${count}`)
  }
  if (before.osThreads !== null && after.osThreads !== null && after.osThreads > before.osThreads) {
    found.push(`OS threads: ${before.osThreads} -> ${after.osThreads}`)
  }
  return found
}

export function describeResources(r: Resources): string {
  const active = [...r.active].map(([type, count]) => `${type}×${count}`).join(', ') || 'none'
  return `active: ${active}; OS threads: ${r.osThreads ?? 'n/a'}`
}
