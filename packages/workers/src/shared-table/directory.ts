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
 * The directory: shape handle -> (slot number, slot generation), a sharedmap 1.2.0.
 *
 * One thread uses it: the table's owner, the main thread. It inserts an entry when it gives a
 * handle a slot (for a writer's operation, or its own publish), deletes it when the shape is
 * removed, and looks a handle up when its own cache does not have it. Writer threads never
 * touch it: they are told their shapes' slots with every operation. That is what makes a
 * sharedmap lock held forever impossible: its locks wait without a timeout, so a thread that
 * died holding one (a writer over its memory limit, terminated mid-insert) would block every
 * later directory call, and on the main thread Atomics.wait would freeze the event loop. Only
 * the main thread ever holds one, and its death ends the process.
 * An entry never changes once written: a handle keeps its slot until it is deleted, and the
 * generation stored beside the slot number lets a cached slot number detect reuse. The entries
 * made by insertAbsent reach the map at the end of their event turn, together: this object
 * answers for them meanwhile, and the caller does not wait for the map.
 *
 * sharedmap has defects at its limits (docs/design/sharedmap-notes.md). Each is guarded here,
 * before it can happen; shared-table.test.ts pins every guard:
 * 1. a key or value of exactly keySize/objSize chars corrupts the next entry: keys and values are
 *    strictly shorter than the configured sizes (layout.ts), checked before every set;
 * 2. overwriting a key in a full map hangs forever, 3. inserting into a full map throws: the map
 *    is built with 10/9 of the table's capacity and inserts are refused at the capacity, so it
 *    is never more than 90% full; and an entry is never overwritten at all;
 * 4. delete of a missing key throws: the key is looked up first;
 * 5. the hash is weak for short, similar keys (`1-1`, `1-2` ...): every key starts with 8 hex
 *    chars of a strong 32-bit hash of the handle, so all keys are high-entropy;
 * 6. its typings are wrong: sharedmap.d.ts replaces them.
 */
export class Directory {
  readonly #map: SharedMap
  /** Entries allowed: the table's capacity (one entry per slot). */
  readonly #entriesMax: number
  /**
   * insertAbsent's entries not yet in the map, written together at the end of the event turn.
   * Their keys and values are made then too: the caller pays for neither.
   */
  readonly #pending = new Map<ShapeHandle, SlotRef>()
  #flushScheduled = false

  constructor(capacity: number) {
    this.#map = new SharedMap(directoryMaxSize(capacity), DIRECTORY_KEY_SIZE, DIRECTORY_VALUE_SIZE)
    this.#entriesMax = capacity
  }

  /** The sharedmap itself: its `stats` let the guard tests see what it did. */
  get map(): SharedMap {
    return this.#map
  }

  /** Entries present (those still pending included). */
  get length(): number {
    return this.#map.length + this.#pending.size
  }

  lookup(handle: ShapeHandle): SlotRef | undefined {
    // A pending entry's handle was checked when it was made: its key is made only for the map.
    const pending = this.#pending.get(handle)
    if (pending !== undefined) return pending
    const value = this.#map.get(directoryKey(handle))
    return value === undefined ? undefined : decodeRef(value)
  }

  /**
   * Returns the handle's entry, creating it if absent with the slot `reserve` hands out (called
   * only when the handle is absent; it returns undefined when no slot is free). Returns
   * undefined when the handle is absent and there is no room.
   */
  insertIfAbsent(handle: ShapeHandle, reserve: () => SlotRef | undefined): SlotRef | undefined {
    const pending = this.#pending.get(handle)
    if (pending !== undefined) return pending
    const key = directoryKey(handle)
    const map = this.#map
    const existing = map.get(key)
    if (existing !== undefined) return decodeRef(existing)
    // Guards 2 and 3: refuse at capacity, long before sharedmap's own limit.
    const ref = this.length < this.#entriesMax ? reserve() : undefined
    if (ref !== undefined) map.set(key, encodeRef(ref))
    return ref
  }

  /**
   * Creates the entry of a handle the caller knows has none (its cache holds every entry), with
   * the slot `reserve` hands out; undefined when there is no room. The entry is answered by this
   * object at once but reaches the map at the end of the event turn, with the others made in it
   * under one lock: an operation that gives many shapes their slots (a fan-out) does not wait
   * for sharedmap's lock, its hash and its writes to fresh pages of shared memory per shape.
   */
  insertAbsent(handle: ShapeHandle, reserve: () => SlotRef | undefined): SlotRef | undefined {
    // Validated before a slot is reserved for it. A valid handle's key and any slot's value
    // are within guard 1's bounds (directoryKey, encodeRef), so the flush cannot throw on them.
    assertHandle(handle)
    // Guards 2 and 3: refuse at capacity, long before sharedmap's own limit; the key is absent,
    // so its set never overwrites.
    if (this.length >= this.#entriesMax) return undefined
    const ref = reserve()
    if (ref === undefined) return undefined
    this.#pending.set(handle, ref)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => this.flush())
    }
    return ref
  }

  /** Writes the pending entries into the map, under one exclusive lock. */
  flush(): void {
    this.#flushScheduled = false
    if (this.#pending.size === 0) return
    const map = this.#map
    map.lockExclusive()
    try {
      for (const [handle, ref] of this.#pending) map.set(directoryKey(handle), encodeRef(ref), { lockExclusive: true })
    } finally {
      map.unlockExclusive()
    }
    this.#pending.clear()
  }

  /**
   * Deletes the handle's entry if present, after `release` has freed its slot. Returns the
   * removed entry. A missing handle is a no-op.
   */
  remove(handle: ShapeHandle, release: (ref: SlotRef) => void): SlotRef | undefined {
    const pending = this.#pending.get(handle)
    if (pending !== undefined) {
      release(pending)
      this.#pending.delete(handle)
      return pending
    }
    const key = directoryKey(handle)
    const map = this.#map
    // Guard 4: sharedmap throws on a missing key, so look first.
    const existing = map.get(key)
    if (existing === undefined) return undefined
    const ref = decodeRef(existing)
    // The slot goes first: if freeing it fails, the entry is intact and still consistent.
    release(ref)
    map.delete(key)
    return ref
  }
}

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
