import { readFileSync, renameSync, writeFileSync } from 'node:fs'

/**
 * What each served table's shapes were made with, as one comparable string per table: its
 * relation's oid (a table dropped and created again under its name gets a new one) and its
 * columns as the server decodes them.
 */
export type TableFingerprints = ReadonlyMap<string, string>

/**
 * The fingerprints of the last run, kept in a file of the server's data directory. A table
 * altered, or dropped and created again, while the server was down sends no relation message
 * to the next run (its tables are loaded already changed), so the next start compares the
 * catalog with this file, and that table's shapes rotate as a relation message would have made
 * them. Saved after each rotation, so a crash in between rotates again: never too few.
 */
export class ServedSchemas {
  readonly #file: string
  /** Null before the first save (a first start, or a data directory from before this file). */
  #saved: TableFingerprints | null

  constructor(file: string) {
    this.#file = file
    this.#saved = readSaved(file)
  }

  /** The tables whose fingerprint differs from the saved one, or that are served no more. */
  changed(current: TableFingerprints): string[] {
    const saved = this.#saved
    if (saved === null) return []
    return [...saved].filter(([table, fingerprint]) => current.get(table) !== fingerprint).map(([table]) => table)
  }

  /** Writes `current` atomically (a new file renamed over the old one). */
  save(current: TableFingerprints): void {
    const temp = `${this.#file}.tmp`
    writeFileSync(temp, JSON.stringify({ format: FORMAT, tables: Object.fromEntries(current) }))
    renameSync(temp, this.#file)
    this.#saved = new Map(current)
  }
}

/**
 * The file's format. 2: fingerprints with the columns' Postgres types. A file of another format
 * (1 held the tables at its top level) is read as none, as at a first start: its fingerprints
 * would differ from every table's and rotate every shape; a table altered while the server was
 * down for that upgrade goes unseen.
 */
const FORMAT = 2

function readSaved(file: string): TableFingerprints | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const parsed: unknown = JSON.parse(text)
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${file}: not a schema record`)
  const { format, tables } = parsed as { format?: unknown; tables?: unknown }
  if (format !== FORMAT || typeof tables !== 'object' || tables === null) return null
  return new Map(Object.entries(tables).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
}
