import { EngineError, ErrorCode, type ReadPathKeys, type ReadPathTable, type ShapeHandle } from '@shapestore/engine'
import { Directory } from './directory.ts'
import {
  S_GENERATION,
  S_STATE,
  STATE_READY,
  TABLE_CAPACITY_DEFAULT,
  TABLE_CAPACITY_MAX,
  TABLE_CAPACITY_MIN,
  threadCacheEntriesMax,
  WRITE_ATTEMPTS_MAX,
} from './layout.ts'
import {
  decodeKeys,
  encodeKeys,
  FILL_BUSY,
  FILL_OCCUPIED,
  isOverflow,
  READ_BUSY,
  type SlotRef,
  Slots,
  slotScratch,
  WRITE_STALE,
} from './slots.ts'

/** Options of a new SharedReadPathTable. */
export interface SharedReadPathTableOptions {
  /** Shapes the table can hold at once, TABLE_CAPACITY_MIN..TABLE_CAPACITY_MAX (default TABLE_CAPACITY_DEFAULT). */
  readonly capacity?: number
}

/**
 * What another thread needs to open the same table: post it (workerData or postMessage); both
 * parts are shared, not copied, by the structured clone.
 */
export interface SharedReadPathTableDescriptor {
  readonly slots: SharedArrayBuffer
  /** The directory's sharedmap, opaque outside this package (its own typings are wrong: sharedmap.d.ts). */
  readonly directory: object
}

export { TABLE_CAPACITY_DEFAULT, TABLE_CAPACITY_MAX, TABLE_CAPACITY_MIN }

/** This thread's knowledge of one handle's slot. Mutable so a refresh allocates nothing. */
class CachedSlot implements SlotRef {
  readonly slot: number
  readonly generation: number
  readonly seqIndex: number
  /** The seq at which `keys` was read or written; -1 (odd, never an unlocked seq) before that. */
  seq = -1
  /** The slot's keys at `seq`; undefined for a slot without a usable value (FILLING, overflow). */
  keys: ReadPathKeys | undefined = undefined

  constructor(ref: SlotRef, seqIndex: number) {
    this.slot = ref.slot
    this.generation = ref.generation
    this.seqIndex = seqIndex
  }
}

const REFRESH_OK = 0
const REFRESH_BUSY = 1
const REFRESH_STALE = 2

/** Set by fromShared for the constructor it calls: the one way to pass it the received parts. */
let attaching: { slots: Slots; directory: Directory } | undefined

/**
 * The read-path-key table of the worker runtime: ReadPathTable over shared memory, so the main
 * thread answers "where is this shape?" from what the writer threads published, with no message
 * and no disk read.
 *
 * Who writes, who reads (the rights of ReadPathTable):
 * - the shape's writer thread calls `publish` after every commit: it always overwrites;
 * - a thread that missed reads LMDB and calls `insertIfAbsent`: it writes only a slot that has
 *   no value yet, so a published value is never overwritten by a fill;
 * - the facade calls `delete` last when a shape is removed;
 * - every thread calls `get`.
 * Each thread has its own view (`new` on the main thread, `fromShared` in a worker) over the
 * same two shared parts, the directory (handle -> slot, directory.ts) and the slots (slots.ts),
 * plus a private cache handle -> (slot, generation, last seq seen, decoded keys).
 *
 * What a reader may assume: `get` returns exactly a value that was published or filled (never a
 * mix of two, never another shape's), or undefined. Undefined is always allowed and means "ask
 * LMDB": the handle is absent, its slot is reserved but not yet written, a writer held the slot
 * for the whole read, or its keys did not fit the slot.
 *
 * Keys that do not fit (a pg snapshot with more than XIP_INLINE_MAX xips, or a number that is
 * not a safe integer) are stored as an overflow marker: `get` misses, so the caller reads LMDB,
 * and `insertIfAbsent` returns the keys it was given (they came from LMDB) without replacing the
 * marker, which belongs to whoever wrote it. A caller never receives an approximated pgSnapshot.
 *
 * A hit costs one Map.get on the thread's cache and one Atomics.load of the slot's seq: when the
 * seq has not moved since this thread last decoded the slot, the same frozen object is returned
 * again, with no allocation. (Seq is 32-bit: after exactly 2^31 writes to one slot between two
 * reads of this thread, a stale value would pass; one publish per commit makes that days of a
 * single shape committing thousands of times a second, and then a 1 in 2^31 coincidence.)
 * A handle that is absent is looked up in the directory on every `get`: caching the absence
 * would hide another thread's insert, and the caller reads LMDB next anyway.
 *
 * Capacity is not a failure. A handle that finds no room gets no entry: its reads miss and are
 * served from LMDB (correct, a few microseconds), and its writer's publish is dropped and
 * counted (H_DROPPED_PUBLISHES). The count guards the one race a missing entry opens: a miss
 * reads LMDB, the writer commits newer keys and finds no room to publish them, a removal frees
 * a slot, and the miss would store its older keys there with nothing left to overwrite them.
 * So a miss takes the count before it reads LMDB (`fillToken`) and stores nothing if it moved.
 * The count moves under the directory's exclusive lock, where entries are made, so a fill that
 * finds the count unmoved once its entry exists is newer than every dropped publish of its shape.
 *
 * Like MapReadPathTable, the table does not remember deleted handles: a fill or a publish after
 * `delete` creates the entry again. The facade's order (catalog lookups first, writer stopped,
 * table entry last) is what keeps a removed shape from coming back.
 */
export class SharedReadPathTable implements ReadPathTable {
  readonly #slots: Slots
  readonly #directory: Directory
  readonly #cache = new Map<ShapeHandle, CachedSlot>()
  readonly #cacheEntriesMax: number
  /** This thread's scratch for encoding a write and for a read's consistent copy. */
  readonly #encoded = slotScratch()
  readonly #read = slotScratch()

  /** A new table, on the thread that owns it (the main thread). */
  constructor(options: SharedReadPathTableOptions = {}) {
    if (attaching !== undefined) {
      this.#slots = attaching.slots
      this.#directory = attaching.directory
    } else {
      const capacity = validateCapacity(options.capacity)
      this.#slots = Slots.create(capacity)
      this.#directory = Directory.create(capacity)
    }
    this.#cacheEntriesMax = threadCacheEntriesMax(this.#slots.capacity)
  }

  /** This thread's view of a table another thread made; the descriptor comes from `toShared`. */
  static fromShared(descriptor: SharedReadPathTableDescriptor): SharedReadPathTable {
    if (typeof descriptor !== 'object' || descriptor === null) {
      throw new EngineError(ErrorCode.INVALID_OPTION, 'shared table: a descriptor from toShared() is required')
    }
    const slots = Slots.attach(descriptor.slots)
    const directory = Directory.attach(descriptor.directory, slots.capacity)
    attaching = { slots, directory }
    try {
      return new SharedReadPathTable()
    } finally {
      attaching = undefined
    }
  }

  toShared(): SharedReadPathTableDescriptor {
    return { slots: this.#slots.buffer, directory: this.#directory.shared }
  }

  get capacity(): number {
    return this.#slots.capacity
  }

  /** Entries in the table, across all threads. */
  get size(): number {
    return this.#slots.live
  }

  /** Publishes dropped so far because the table had no room for a new entry, across all threads. */
  get droppedPublishes(): number {
    return this.#slots.droppedPublishes
  }

  fillToken(): number {
    return this.#slots.droppedPublishes
  }

  get(handle: ShapeHandle): ReadPathKeys | undefined {
    const cached = this.#cache.get(handle)
    if (cached !== undefined && this.#slots.loadSeq(cached.seqIndex) === cached.seq) return cached.keys
    return this.#getSlow(handle, cached)
  }

  insertIfAbsent(handle: ShapeHandle, keys: ReadPathKeys, token: number): ReadPathKeys {
    const fits = encodeKeys(keys, this.#encoded)
    for (let attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
      // A moved token: no new entry for keys that may be older than a dropped publish.
      const moved = this.#slots.droppedPublishes !== token
      const cached = this.#cache.get(handle) ?? (moved ? this.#lookup(handle) : this.#lookupOrReserve(handle, false))
      // No room (or a moved token and no entry): served uncached.
      if (cached === undefined) return keys
      // Checked again now that the entry exists: a publish dropped before it existed may be newer.
      if (moved || this.#slots.droppedPublishes !== token) {
        return this.#refresh(cached) === REFRESH_OK && cached.keys !== undefined ? cached.keys : keys
      }
      const result = this.#slots.fill(cached, this.#encoded)
      if (result === WRITE_STALE) {
        this.#cache.delete(handle)
        continue
      }
      // A writer held the slot for LOCK_WAIT_MS_MAX: answer with the caller's keys (read from
      // LMDB, so correct) and leave the slot to whoever holds it.
      if (result === FILL_BUSY) return keys
      if (result === FILL_OCCUPIED) {
        const refreshed = this.#refresh(cached)
        if (refreshed === REFRESH_STALE) {
          this.#cache.delete(handle)
          continue
        }
        // Busy: a publish is being written right now; the caller's LMDB keys are an answer
        // from just before it. Overflow: the stored value is a marker, the caller's keys are real.
        return refreshed === REFRESH_OK && cached.keys !== undefined ? cached.keys : keys
      }
      cached.seq = result
      cached.keys = fits ? keys : undefined
      return keys
    }
    throw staleAgain(handle)
  }

  /** Always overwrites; with no entry and no room it is dropped and counted (readers then ask LMDB). */
  publish(handle: ShapeHandle, keys: ReadPathKeys): void {
    const fits = encodeKeys(keys, this.#encoded)
    for (let attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
      const cached = this.#cache.get(handle) ?? this.#lookupOrReserve(handle, true)
      if (cached === undefined) return
      const result = this.#slots.publish(cached, this.#encoded)
      if (result === WRITE_STALE) {
        this.#cache.delete(handle)
        continue
      }
      cached.seq = result
      cached.keys = fits ? keys : undefined
      return
    }
    throw staleAgain(handle)
  }

  /**
   * Removes the entry: frees its slot (generation + 1, so every thread's cached slot number goes
   * stale and its next `get` misses) and deletes the directory entry. Absent handles are a no-op.
   */
  delete(handle: ShapeHandle): void {
    this.#cache.delete(handle)
    // release() is false only if the slot was freed behind the directory's back; the entry is
    // then stale and removing it is all that is left to do.
    this.#directory.remove(handle, (ref) => {
      this.#slots.release(ref)
    })
  }

  #getSlow(handle: ShapeHandle, cached: CachedSlot | undefined): ReadPathKeys | undefined {
    let entry = cached ?? this.#lookup(handle)
    if (entry === undefined) return undefined
    let refreshed = this.#refresh(entry)
    if (refreshed === REFRESH_STALE) {
      // The slot was freed (maybe reused) since this thread cached it: ask the directory once.
      this.#cache.delete(handle)
      entry = this.#lookup(handle)
      if (entry === undefined) return undefined
      refreshed = this.#refresh(entry)
    }
    return refreshed === REFRESH_OK ? entry.keys : undefined
  }

  /** Re-reads the slot into `entry` if its generation still matches. */
  #refresh(entry: CachedSlot): number {
    const words = this.#read
    const seq = this.#slots.read(entry.slot, words)
    if (seq === READ_BUSY) return REFRESH_BUSY
    if (words[S_GENERATION] !== entry.generation) return REFRESH_STALE
    entry.keys = words[S_STATE] === STATE_READY && !isOverflow(words) ? decodeKeys(words) : undefined
    entry.seq = seq
    return REFRESH_OK
  }

  #lookup(handle: ShapeHandle): CachedSlot | undefined {
    const ref = this.#directory.lookup(handle)
    return ref === undefined ? undefined : this.#remember(handle, ref)
  }

  /** The handle's entry, made if absent; undefined when there is no room (a publish's drop is then counted). */
  #lookupOrReserve(handle: ShapeHandle, publishing: boolean): CachedSlot | undefined {
    const slots = this.#slots
    const ref =
      this.#directory.lookup(handle) ??
      this.#directory.insertIfAbsent(
        handle,
        () => slots.reserve(),
        publishing ? () => slots.countDroppedPublish() : undefined,
      )?.ref
    return ref === undefined ? undefined : this.#remember(handle, ref)
  }

  #remember(handle: ShapeHandle, ref: SlotRef): CachedSlot {
    // Entries of removed shapes stay in other threads' caches until touched again; dropping the
    // whole cache now and then bounds that, at the cost of one directory lookup per shape.
    if (this.#cache.size >= this.#cacheEntriesMax) this.#cache.clear()
    const entry = new CachedSlot(ref, this.#slots.seqIndex(ref.slot))
    this.#cache.set(handle, entry)
    return entry
  }
}

function validateCapacity(capacity: unknown): number {
  if (capacity === undefined) return TABLE_CAPACITY_DEFAULT
  if (
    !Number.isInteger(capacity) ||
    (capacity as number) < TABLE_CAPACITY_MIN ||
    (capacity as number) > TABLE_CAPACITY_MAX
  ) {
    throw new EngineError(
      ErrorCode.INVALID_OPTION,
      `shared table: capacity must be an integer from ${TABLE_CAPACITY_MIN} to ${TABLE_CAPACITY_MAX}, got ${String(capacity)}`,
    )
  }
  return capacity as number
}

function staleAgain(handle: ShapeHandle): EngineError {
  return new EngineError(
    ErrorCode.STORAGE_ERROR,
    `shared table: ${handle} was deleted and re-created ${WRITE_ATTEMPTS_MAX} times during one write`,
  )
}
