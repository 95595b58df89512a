/// <reference path="./sharedmap.d.ts" />
import { assertHandle, EngineError, ErrorCode, type ShapeHandle } from '@shapestore/engine'
import SharedMap from 'sharedmap/index.umd.js'
import {
  DIRECTORY_KEY_SIZE,
  DIRECTORY_VALUE_CHARS_MAX,
  DIRECTORY_VALUE_SIZE,
  directoryMaxSize,
  KEY_PREFIX_CHARS,
} from './layout.ts'
import type { SlotRef } from './slots.ts'

/**
 * The directory: shape handle -> (slot number, slot generation), a sharedmap 1.2.0 in a
 * SharedArrayBuffer so that every thread can find a shape's slot by its handle.
 *
 * Who writes, who reads: any thread inserts (the shape's writer on its first publish, a reader
 * on a fill after a miss) and the thread removing a shape deletes; every thread looks up, once
 * per shape (the table caches the answer per thread), so the directory is off the hot path.
 * An entry never changes once written: a handle keeps its slot until it is deleted, and the
 * generation stored beside the slot number lets a thread with a cached slot number detect reuse.
 *
 * sharedmap has defects at its limits (docs/design/sharedmap-notes.md). Each is guarded here, before it
 * can happen; shared-table.test.ts pins every guard:
 * 1. a key or value of exactly keySize/objSize chars corrupts the next entry: keys and values are
 *    strictly shorter than the configured sizes (layout.ts), checked before every set;
 * 2. overwriting a key in a full map hangs forever, 3. inserting into a full map throws: the map
 *    is built with 10/9 of the table's capacity and inserts are refused at the capacity, so it
 *    is never more than 90% full; and an entry is never overwritten at all;
 * 4. delete of a missing key throws: the key is looked up first, under the same exclusive lock;
 * 5. the hash is weak for short, similar keys (`1-1`, `1-2` ...): every key starts with 8 hex
 *    chars of a strong 32-bit hash of the handle, so all keys are high-entropy;
 * 6. lockWrite does not exclude readers (torn and truncated reads), so the only set-if-absent
 *    is get + set under lockExclusive;
 * 7. a structured clone loses the prototype: `attach` restores it;
 * 8. its typings are wrong: sharedmap.d.ts replaces them.
 * One risk is not guarded: its locks wait without a timeout, so a thread terminated while it
 * holds one (mid-insert or mid-delete) blocks every later directory operation.
 */
export class Directory {
  readonly #map: SharedMap
  /** Entries allowed: the table's capacity (one entry per slot). */
  readonly #entriesMax: number

  private constructor(map: SharedMap, entriesMax: number) {
    this.#map = map
    this.#entriesMax = entriesMax
  }

  static create(capacity: number): Directory {
    return new Directory(new SharedMap(directoryMaxSize(capacity), DIRECTORY_KEY_SIZE, DIRECTORY_VALUE_SIZE), capacity)
  }

  /** Wraps a map received from another thread (a structured clone), restoring its prototype. */
  static attach(received: unknown, capacity: number): Directory {
    const { storage, meta } = (typeof received === 'object' && received !== null ? received : {}) as {
      storage?: unknown
      meta?: unknown
    }
    // sharedmap's meta words are maxSize, keySize, objSize (rounded): a map built with other
    // sizes would void guard 1, so it is refused.
    if (
      !(storage instanceof SharedArrayBuffer) ||
      !(meta instanceof Uint32Array) ||
      meta[0] !== align4(directoryMaxSize(capacity)) ||
      meta[1] !== align4(DIRECTORY_KEY_SIZE) ||
      meta[2] !== align4(DIRECTORY_VALUE_SIZE)
    ) {
      throw new EngineError(ErrorCode.INVALID_OPTION, 'shared table: the descriptor has no directory for this table')
    }
    // The clone keeps the typed-array views over the same SAB but not the class: without this
    // `get` is undefined in the receiving thread.
    if (!(received instanceof SharedMap)) Object.setPrototypeOf(received, SharedMap.prototype)
    return new Directory(received as SharedMap, capacity)
  }

  /** The map itself, for a descriptor: posting it to a worker shares its SAB. */
  get shared(): SharedMap {
    return this.#map
  }

  /** Entries present, across all threads. */
  get length(): number {
    return this.#map.length
  }

  lookup(handle: ShapeHandle): SlotRef | undefined {
    const value = this.#map.get(directoryKey(handle))
    return value === undefined ? undefined : decodeRef(value)
  }

  /**
   * Returns the handle's entry, creating it if absent with the slot `reserve` hands out.
   * `reserve` runs under the exclusive lock (slot allocation relies on that) and only when the
   * handle is absent; it returns undefined when no slot is free. Returns undefined when the
   * handle is absent and there is no room, after running `whenFull` under the same lock (so no
   * other thread can insert the handle between the two).
   */
  insertIfAbsent(
    handle: ShapeHandle,
    reserve: () => SlotRef | undefined,
    whenFull?: () => void,
  ): { ref: SlotRef; inserted: boolean } | undefined {
    const key = directoryKey(handle)
    const map = this.#map
    // Guard 6: lockExclusive is the only lock that keeps readers out; under lockWrite a
    // concurrent get sees a half-written entry.
    map.lockExclusive()
    try {
      const existing = map.get(key, EXCLUSIVE)
      if (existing !== undefined) return { ref: decodeRef(existing), inserted: false }
      // Guards 2 and 3: refuse at capacity, long before sharedmap's own limit.
      const ref = map.length < this.#entriesMax ? reserve() : undefined
      if (ref === undefined) {
        whenFull?.()
        return undefined
      }
      map.set(key, encodeRef(ref), EXCLUSIVE)
      return { ref, inserted: true }
    } finally {
      map.unlockExclusive()
    }
  }

  /**
   * Deletes the handle's entry if present, after `release` has freed its slot (both under the
   * exclusive lock, so no thread can look the entry up in between). Returns the removed entry.
   * A missing handle is a no-op.
   */
  remove(handle: ShapeHandle, release: (ref: SlotRef) => void): SlotRef | undefined {
    const key = directoryKey(handle)
    const map = this.#map
    map.lockExclusive()
    try {
      // Guard 4: sharedmap throws on a missing key, so look first, under the same lock.
      const existing = map.get(key, EXCLUSIVE)
      if (existing === undefined) return undefined
      const ref = decodeRef(existing)
      // The slot goes first: if freeing it fails, the entry is intact and still consistent.
      release(ref)
      map.delete(key, EXCLUSIVE)
      return ref
    } finally {
      map.unlockExclusive()
    }
  }
}

const EXCLUSIVE = { lockExclusive: true } as const

/**
 * The directory key of a handle: a hash prefix + the handle. Validates the handle first, so no
 * key reaches sharedmap at or above its keySize (guard 1): prefix 8 + handle <= 31 = 39 < 44.
 */
export function directoryKey(handle: ShapeHandle): string {
  assertHandle(handle)
  const key = hashPrefix(handle) + handle
  if (key.length >= DIRECTORY_KEY_SIZE) {
    throw new EngineError(ErrorCode.INVALID_HANDLE, `shared table: handle too long for the directory: ${handle}`)
  }
  return key
}

/** `<slot>.<generation>` in base 36 (generation as an unsigned 32-bit number). */
export function encodeRef(ref: SlotRef): string {
  const value = `${ref.slot.toString(36)}.${(ref.generation >>> 0).toString(36)}`
  // Guard 1 for values: never a value of objSize chars.
  if (value.length > DIRECTORY_VALUE_CHARS_MAX || value.length >= DIRECTORY_VALUE_SIZE) {
    throw new EngineError(ErrorCode.STORAGE_ERROR, `shared table: directory value too long: ${value}`)
  }
  return value
}

function decodeRef(value: string): SlotRef {
  const dot = value.indexOf('.')
  const slot = Number.parseInt(value.slice(0, dot), 36)
  const generation = Number.parseInt(value.slice(dot + 1), 36) | 0
  if (dot < 1 || !Number.isInteger(slot)) {
    throw new EngineError(ErrorCode.STORAGE_ERROR, `shared table: corrupt directory value ${JSON.stringify(value)}`)
  }
  return { slot, generation }
}

/** FNV-1a over the UTF-16 units, then murmur3's finaliser: 32 well-mixed bits as 8 hex chars. */
function hashPrefix(handle: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < handle.length; i++) h = Math.imul(h ^ handle.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0).toString(16).padStart(KEY_PREFIX_CHARS, '0')
}

/** sharedmap rounds its sizes up to a multiple of 4. */
function align4(n: number): number {
  return Math.ceil(n / 4) * 4
}
