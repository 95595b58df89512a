import { EngineError, ErrorCode } from '../errors.ts'
import type { ShapeHandle } from '../handle.ts'
import { READ_PATH_KEYS_DEFAULT, READ_PATH_KEYS_MAX, READ_PATH_KEYS_MIN } from '../limits.ts'
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
 * A table may hold fewer entries than there are shapes (a runtime's `readPathKeys`; the shared
 * table's slots): a handle without an entry is simply a miss, served from LMDB.
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

/**
 * The order in which a Map used as a bounded cache lets entries go: first in, first out, among
 * the entries `evictable` allows. One live iterator goes through the Map across calls (a Map
 * iterator sees the entries set after it was made and skips deleted ones), so an entry that may
 * not go is passed over once per round, not once per eviction; a round ends at the Map's end and
 * the next starts at its beginning. An entry set again keeps its place.
 */
export class EvictionOrder<V> {
  readonly #map: Map<string, V>
  readonly #evictable: (value: V) => boolean
  #cursor: Iterator<[string, V]> | null = null

  constructor(map: Map<string, V>, evictable: (value: V) => boolean = () => true) {
    this.#map = map
    this.#evictable = evictable
  }

  /** The key of the entry to go next (the caller deletes it), or undefined if none may. */
  next(): string | undefined {
    for (let lap = 0; lap < 2; lap++) {
      this.#cursor ??= this.#map.entries()
      for (let next = this.#cursor.next(); next.done !== true; next = this.#cursor.next()) {
        const [key, value] = next.value
        if (this.#evictable(value)) return key
      }
      this.#cursor = null
    }
    return undefined
  }
}

/**
 * The table for one thread: a Map of at most `keysMax` entries (READ_PATH_KEYS_DEFAULT). Past it,
 * the entry made first goes (EvictionOrder): every key a table holds is also in LMDB (a writer
 * publishes after its commit is durable), so a dropped entry costs its next read a miss, never
 * a wrong answer.
 */
export class MapReadPathTable implements ReadPathTable {
  readonly #entries = new Map<ShapeHandle, ReadPathKeys>()
  readonly #evictionOrder = new EvictionOrder(this.#entries)
  readonly #keysMax: number

  constructor(keysMax: number = READ_PATH_KEYS_DEFAULT) {
    assertReadPathKeys(keysMax)
    this.#keysMax = keysMax
  }

  get(handle: ShapeHandle): ReadPathKeys | undefined {
    return this.#entries.get(handle)
  }

  insertIfAbsent(handle: ShapeHandle, keys: ReadPathKeys): ReadPathKeys {
    const existing = this.#entries.get(handle)
    if (existing !== undefined) return existing
    this.#makeRoom()
    this.#entries.set(handle, keys)
    return keys
  }

  publish(handle: ShapeHandle, keys: ReadPathKeys): void {
    // A held entry is overwritten in place; only a new one may need room (asked only when full).
    if (this.#entries.size >= this.#keysMax && !this.#entries.has(handle)) this.#makeRoom()
    this.#entries.set(handle, keys)
  }

  #makeRoom(): void {
    if (this.#entries.size < this.#keysMax) return
    const oldest = this.#evictionOrder.next()
    if (oldest !== undefined) this.#entries.delete(oldest)
  }

  delete(handle: ShapeHandle): void {
    this.#entries.delete(handle)
  }

  get size(): number {
    return this.#entries.size
  }
}

/** INVALID_OPTION unless `keys` is a count of read-path keys to keep (a runtime's `readPathKeys`). */
export function assertReadPathKeys(keys: unknown, name = 'readPathKeys'): asserts keys is number {
  if (!Number.isSafeInteger(keys) || (keys as number) < READ_PATH_KEYS_MIN || (keys as number) > READ_PATH_KEYS_MAX) {
    throw new EngineError(
      ErrorCode.INVALID_OPTION,
      `${name} must be an integer in [${READ_PATH_KEYS_MIN}, ${READ_PATH_KEYS_MAX}], got ${String(keys)}`,
    )
  }
}
