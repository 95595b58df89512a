// Declared changes: how a commit that trades a figure on purpose (a checksum that costs a read
// some speed, a format that stores a few bytes more) gets through the gate, visibly. The commit
// adds an entry to gate/declared-changes.json saying which figure moves, how far, and why; the
// gate lets that figure move that far in that commit only: a declaration already in the base's
// file is history and applies to nothing. The verdict table shows every declaration it used.
import { readFileSync } from 'node:fs'

/** One declared change, as gate/declared-changes.json lists it. */
export interface DeclaredChange {
  readonly figure: string
  /** For a timed figure: how much worse it may get, in percent of the base. */
  readonly worseByPctMax?: number
  /** For a counter: the value it moves to (exactly). */
  readonly to?: number
  readonly reason: string
}

/** The file, relative to the repository root and to packages/bench. */
export const DECLARED_CHANGES_FILE = 'packages/bench/gate/declared-changes.json'

/** Parses a declarations file's text; throws on anything but a list of well-formed declarations (fail closed). */
export function parseDeclarations(text: string | undefined): DeclaredChange[] {
  if (text === undefined) return []
  const list = JSON.parse(text) as unknown
  if (!Array.isArray(list)) throw new Error(`${DECLARED_CHANGES_FILE}: not a list`)
  return list.map((entry, i) => {
    const { figure, worseByPctMax, to, reason } = (entry ?? {}) as Record<string, unknown>
    const timed = typeof worseByPctMax === 'number' && worseByPctMax > 0 && worseByPctMax <= 100
    const counter = typeof to === 'number' && Number.isFinite(to)
    if (typeof figure !== 'string' || typeof reason !== 'string' || reason.length < 10 || timed === counter) {
      throw new Error(
        `${DECLARED_CHANGES_FILE} entry ${i}: needs a figure, a reason (10+ characters) and either worseByPctMax (0-100] or to`,
      )
    }
    return { figure, reason, ...(timed ? { worseByPctMax } : { to }) } as DeclaredChange
  })
}

/** The head's declarations that the base's file does not hold: the only ones that apply. */
export function newDeclarations(head: readonly DeclaredChange[], base: readonly DeclaredChange[]): DeclaredChange[] {
  const known = new Set(base.map((d) => JSON.stringify(d)))
  return head.filter((d) => !known.has(JSON.stringify(d)))
}

/** The working tree's declarations file, or undefined if there is none. */
export function readDeclarationsFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
