import type { ShapeHandle } from '../handle.ts'
import type { ReadPathKeys } from './read-path-keys.ts'

/**
 * The table of read-path keys, handle -> keys. Two kinds of writers use it, with different
 * rights:
 * - the shape's writer is the authority: `publish` always overwrites;
 * - a reader that missed fills the entry from LMDB with `insertIfAbsent`, which never
 *   overwrites: a value a writer published in the meantime wins.
 * The facade deletes an entry last when a shape is removed, after the catalog lookups are gone,
 * so no later miss can bring it back.
 *
 * A table may hold fewer entries than there are shapes (the shared table has a capacity): a
 * handle without an entry is simply a miss, served from LMDB.
 *
 * The inline runtime uses MapReadPathTable; the worker runtime provides a SharedArrayBuffer
 * table behind this same interface.
 */
export interface ReadPathTable {
  get(handle: ShapeHandle): ReadPathKeys | undefined
  /**
   * Inserts `keys` (just read from LMDB) unless an entry exists; returns the entry the table
   * holds afterwards, or `keys` when it stored nothing (no room).
   */
  insertIfAbsent(handle: ShapeHandle, keys: ReadPathKeys): ReadPathKeys
  publish(handle: ShapeHandle, keys: ReadPathKeys): void
  delete(handle: ShapeHandle): void
}

/** The table for one thread: a Map. */
export class MapReadPathTable implements ReadPathTable {
  readonly #entries = new Map<ShapeHandle, ReadPathKeys>()

  get(handle: ShapeHandle): ReadPathKeys | undefined {
    return this.#entries.get(handle)
  }

  insertIfAbsent(handle: ShapeHandle, keys: ReadPathKeys): ReadPathKeys {
    const existing = this.#entries.get(handle)
    if (existing !== undefined) return existing
    this.#entries.set(handle, keys)
    return keys
  }

  publish(handle: ShapeHandle, keys: ReadPathKeys): void {
    this.#entries.set(handle, keys)
  }

  delete(handle: ShapeHandle): void {
    this.#entries.delete(handle)
  }

  get size(): number {
    return this.#entries.size
  }
}
