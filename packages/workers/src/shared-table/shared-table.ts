import {
  assertHandle,
  assertReadPathKeys,
  EngineError,
  ErrorCode,
  EvictionOrder,
  LogOffset,
  limits,
  type PgSnapshot,
  type ReadPathKeys,
  type ReadPathTable,
  type ShapeHandle,
} from '@shapestore/engine'
import { Directory } from './directory.ts'
import {
  cacheEntriesMax,
  H_UNCHANGING,
  S_GENERATION,
  S_STATE,
  STATE_READY,
  TABLE_CAPACITY_DEFAULT,
  TABLE_CAPACITY_MAX,
  TABLE_CAPACITY_MIN,
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
  /**
   * Slots (shapes a writer has had) the table can hold at once, TABLE_CAPACITY_MIN..
   * TABLE_CAPACITY_MAX (default TABLE_CAPACITY_DEFAULT).
   */
  readonly capacity?: number | undefined
  /**
   * Unslotted entries kept before the oldest goes (the runtime's `readPathKeys`; default the
   * engine's READ_PATH_KEYS_DEFAULT).
   */
  readonly unslottedMax?: number | undefined
}

export { TABLE_CAPACITY_DEFAULT, TABLE_CAPACITY_MAX, TABLE_CAPACITY_MIN }

/** The key fields of a SlotKeys before it is usable (never handed out). */
const NO_OFFSET = LogOffset.BEFORE_ALL

/** Where an unslotted entry (see SharedReadPathTable) is: no slot, and a seq that never moves. */
const UNSLOTTED: SlotRef = { slot: -1, generation: 0 }

/**
 * The cache's knowledge of one handle's slot and of its keys at one seq, and what a hit returns:
 * the keys' fields are its own, so a hit touches this one object and the slot's seq (a separate
 * keys object cost a dependent cache miss per lookup over many shapes). Once usable it never
 * changes: a later read or write of the slot caches a new one in its place, so keys a caller
 * holds stay as they were. An unusable one is never handed out, so it is filled in place (a
 * miss allocates one object, not two).
 */
class SlotKeys implements SlotRef, ReadPathKeys {
  readonly slot: number
  readonly generation: number
  readonly seqIndex: number
  /** The seq at which the keys were read or written; -1 (odd, never an unlocked seq) before that. */
  seq = -1
  /** False for a slot without a usable value at `seq` (FILLING, overflow): its key fields are placeholders. */
  usable = false
  latestOffset = NO_OFFSET
  lastPersistedOffset = NO_OFFSET
  pgSnapshot: PgSnapshot | null = null
  snapshotStarted = false
  lastSnapshotChunk: number | null = null

  constructor(ref: SlotRef, seqIndex: number) {
    this.slot = ref.slot
    this.generation = ref.generation
    this.seqIndex = seqIndex
  }

  /** Keys the main thread holds without a slot: their seq word is H_UNCHANGING, so every hit check passes. */
  static unslotted(keys: ReadPathKeys): SlotKeys {
    return new SlotKeys(UNSLOTTED, H_UNCHANGING).at(0, keys)
  }

  get slotted(): boolean {
    return this.slot >= 0
  }

  /** These keys at `seq`: this object if it is unusable (filled in place), else a new one. */
  at(seq: number, keys: ReadPathKeys | undefined): SlotKeys {
    const target = this.usable ? new SlotKeys(this, this.seqIndex) : this
    target.seq = seq
    if (keys === undefined) return target
    target.usable = true
    target.latestOffset = keys.latestOffset
    target.lastPersistedOffset = keys.lastPersistedOffset
    target.pgSnapshot = keys.pgSnapshot
    target.snapshotStarted = keys.snapshotStarted
    target.lastSnapshotChunk = keys.lastSnapshotChunk
    return target
  }
}

const REFRESH_BUSY = 1
const REFRESH_STALE = 2

/**
 * The read-path-key table of the worker runtime: ReadPathTable over shared memory, so the main
 * thread answers "where is this shape?" from what the writer threads published, with no message
 * and no disk read.
 *
 * This object lives on the main thread, which owns the table: it gives handles their slots
 * (the directory, directory.ts, and the slot array's allocation, slots.ts), keeps or fills
 * their keys after a miss, and frees them on removal. A writer thread only writes values into
 * slots it was given: the writer client asks `slotFor` for the slot of every shape an operation
 * names and sends it along (slot-publisher.ts is the writer's side). So no thread that can die
 * ever holds the directory's lock, and allocation needs no lock. The one lock a writer shares
 * with this thread is a slot's seq, held for one publish; a writer that exits holding it has it
 * broken by `releaseAbandoned`.
 *
 * Who writes what (the rights of ReadPathTable):
 * - the shape's writer publishes after every commit into its slot: it always overwrites;
 * - a miss read LMDB and calls `insertIfAbsent`: a shape with no slot keeps the keys unslotted;
 *   into a slot it writes only one that has no value yet, so a published value is never
 *   overwritten by a fill;
 * - a commit whose keys could not be published (its writer had no slot for the shape: the table
 *   was full when the operation was sent) is reported back, and `invalidate` drops the unslotted
 *   keys or empties the slot the shape may have been given since, so the next read asks LMDB
 *   instead of trusting keys that may predate the commit;
 * - the facade calls `delete` last when a shape is removed.
 *
 * What a reader may assume: `get` returns exactly a value that was published, filled or kept
 * (never a mix of two, never another shape's), or undefined. Undefined is always allowed and
 * means "ask LMDB": the handle has no entry, its slot has no value yet, a writer held the slot
 * for the whole read, or its keys did not fit the slot.
 *
 * Keys that do not fit (a pg snapshot with more than XIP_INLINE_MAX xips, or a number that is
 * not a safe integer) are stored as an overflow marker: `get` misses, so the caller reads LMDB,
 * and `insertIfAbsent` returns the keys it was given (they came from LMDB) without replacing the
 * marker, which belongs to whoever wrote it. A caller never receives an approximated pgSnapshot.
 *
 * A hit costs one Map.get on the cache and one Atomics.load of the slot's seq: when the seq has
 * not moved since the slot was last decoded, the same object (SlotKeys) is returned again, with no
 * allocation. (Seq is 32-bit: after exactly 2^31 writes to one slot between two reads, a stale
 * value would pass; one publish per commit makes that days of a single shape committing
 * thousands of times a second, and then a 1 in 2^31 coincidence.)
 *
 * A shape gets a slot when the first writer operation on it is sent (`slotFor`), not when it is
 * read. Until then only the main thread can change its keys (every writer operation asks
 * `slotFor` first, but a removal's drop, after which the facade deletes the entry), so a miss
 * keeps the keys it read from LMDB in the main thread's cache alone, as an *unslotted* entry
 * (at most `unslottedMax` of them, the one kept first going past it): no slot, no directory
 * entry, no shared memory written, hit like any other (its seq word is one that never moves).
 * `slotFor` moves the keys into the slot it gives the shape, where the writer's publishes then
 * replace them. So a first read costs
 * what the inline runtime's does (a cold restore's first read of a shape on 2 writer threads
 * made a slot, a directory entry and a shared-memory write: p50 2.1-3.2 µs against 0.24 µs for
 * Map.set, 50,000 fresh handles; see README), and shapes only read take no slot at all.
 *
 * Capacity is not a failure. A shape that finds no slot free when its writer operation is sent
 * keeps what it has: an unslotted entry, or none (its reads then fill one from LMDB); its
 * writer, told "no slot", publishes nothing and reports the commit, and `invalidate` drops the
 * entry, which may predate the commit, before the commit is acknowledged.
 *
 * Like MapReadPathTable, the table does not remember deleted handles: a fill or a publish after
 * `delete` creates the entry again. The facade's order (catalog lookups first, writer stopped,
 * table entry last) is what keeps a removed shape from coming back.
 */
export class SharedReadPathTable implements ReadPathTable {
  readonly #slots: Slots
  readonly #directory: Directory
  readonly #cache = new Map<ShapeHandle, SlotKeys>()
  /** Entries of the cache without a slot (see the class comment), at most #unslottedMax. */
  #unslotted = 0
  readonly #unslottedMax: number
  /** Which unslotted entry goes when there are #unslottedMax: the one made first. */
  readonly #evictionOrder = new EvictionOrder(this.#cache, (entry) => !entry.slotted)
  /**
   * Whether the cache holds every directory entry: it does from the start (every entry is made
   * through #entry, which caches it, and delete removes both) until the backstop in #remember
   * clears it. While it does, a handle the cache lacks has no entry, and the directory is not
   * asked.
   */
  #cacheComplete = true
  readonly #cacheEntriesMax: number
  /** Scratch for encoding a write and for a read's consistent copy. */
  readonly #encoded = slotScratch()
  readonly #read = slotScratch()

  constructor(options: SharedReadPathTableOptions = {}) {
    const capacity = validateCapacity(options.capacity)
    this.#unslottedMax = options.unslottedMax ?? limits.READ_PATH_KEYS_DEFAULT
    assertReadPathKeys(this.#unslottedMax, 'shared table: unslottedMax')
    this.#slots = Slots.create(capacity)
    this.#directory = new Directory(capacity)
    this.#cacheEntriesMax = cacheEntriesMax(capacity)
  }

  /** The slot array, for the writer threads' SlotPublisher (post it; it is shared, not copied). */
  get slotsBuffer(): SharedArrayBuffer {
    return this.#slots.buffer
  }

  get capacity(): number {
    return this.#slots.capacity
  }

  /** Entries in the table: slots owned, and unslotted entries. */
  get size(): number {
    return this.#slots.live + this.#unslotted
  }

  get(handle: ShapeHandle): ReadPathKeys | undefined {
    const cached = this.#cache.get(handle)
    if (cached !== undefined && this.#slots.loadSeq(cached.seqIndex) === cached.seq) {
      return cached.usable ? cached : undefined
    }
    return this.#getSlow(handle, cached)
  }

  insertIfAbsent(handle: ShapeHandle, keys: ReadPathKeys): ReadPathKeys {
    const entry = this.#cache.get(handle) ?? this.#lookup(handle)
    if (entry === undefined) {
      // No writer operation has been sent for the shape: the keys stay here, unslotted.
      this.#keepUnslotted(handle, keys)
      return keys
    }
    return entry.slotted ? this.#fill(handle, entry, keys) : entry
  }

  /** The slotted `entry`'s fill with `keys`, read from LMDB; returns the keys the table holds after. */
  #fill(handle: ShapeHandle, entry: SlotKeys, keys: ReadPathKeys): ReadPathKeys {
    const fits = encodeKeys(keys, this.#encoded)
    const result = this.#slots.fill(entry, this.#encoded)
    if (result === WRITE_STALE) throw staleEntry(handle)
    // A writer held the slot for LOCK_WAIT_MS_MAX: answer with the caller's keys (read from
    // LMDB, so correct) and leave the slot to whoever holds it.
    if (result === FILL_BUSY) return keys
    if (result === FILL_OCCUPIED) {
      // Busy: a publish is being written right now; the caller's LMDB keys are an answer from
      // just before it. Overflow: the stored value is a marker, the caller's keys are real.
      const refreshed = this.#refresh(handle, entry)
      return typeof refreshed === 'object' && refreshed.usable ? refreshed : keys
    }
    this.#cacheKeys(handle, entry, result, fits ? keys : undefined)
    return keys
  }

  /**
   * Always overwrites. The publisher is this thread (the worker runtime's writers publish through
   * SlotPublisher), so with no slot free its keys are kept unslotted.
   */
  publish(handle: ShapeHandle, keys: ReadPathKeys): void {
    const entry = this.#entry(handle)
    if (entry === undefined) {
      this.#keepUnslotted(handle, keys)
      return
    }
    const fits = encodeKeys(keys, this.#encoded)
    const result = this.#slots.publish(entry, this.#encoded)
    if (result === WRITE_STALE) throw staleEntry(handle)
    this.#cacheKeys(handle, entry, result, fits ? keys : undefined)
  }

  /**
   * The handle's slot, given it now if it has none; undefined when no slot is free. The writer
   * client sends it with every operation on the shape, and the writer publishes into it.
   */
  slotFor(handle: ShapeHandle): SlotRef | undefined {
    return this.#entry(handle)
  }

  /**
   * A commit of `handle` was not published (its writer had no slot for it): whatever the table
   * holds of it may predate that commit, so its unslotted keys are dropped or its slot is
   * emptied, and the next read asks LMDB.
   */
  invalidate(handle: ShapeHandle): void {
    const entry = this.#cache.get(handle) ?? this.#lookup(handle)
    if (entry === undefined) return
    if (!entry.slotted) this.#dropUnslotted(handle)
    // Not cleared only when a publish holds the slot: it comes from a later commit.
    else this.#slots.clear(entry)
  }

  /**
   * A writer thread exited: unlocks the slots of `handles` (its shapes) that it left locked, so
   * reads stop spinning on them and its successor can publish. Their values are dropped (reads
   * ask LMDB until the successor republishes). Their unslotted entries are dropped too: such a
   * shape's operation went out with no slot, and the thread may have died between its commit
   * and the report that would have dropped them (invalidate). Returns the slots unlocked.
   */
  releaseAbandoned(handles: Iterable<ShapeHandle>): number {
    let released = 0
    for (const handle of handles) {
      const entry = this.#cache.get(handle) ?? this.#lookup(handle)
      if (entry === undefined) continue
      if (!entry.slotted) this.#dropUnslotted(handle)
      else if (this.#slots.breakAbandonedLock(entry)) released++
    }
    return released
  }

  /**
   * Removes the entry: an unslotted one is dropped; a slotted one frees its slot (generation + 1,
   * so a slot number a writer still holds goes stale and its publish lands nowhere) and deletes
   * its directory entry. Absent handles are a no-op.
   */
  delete(handle: ShapeHandle): void {
    if (this.#cache.get(handle)?.slotted === false) {
      this.#dropUnslotted(handle) // it never had a directory entry
      return
    }
    this.#cache.delete(handle)
    // release() is false only if the slot was freed behind the directory's back; the entry is
    // then stale and removing it is all that is left to do.
    this.#directory.remove(handle, (ref) => {
      this.#slots.release(ref)
    })
  }

  #getSlow(handle: ShapeHandle, cached: SlotKeys | undefined): ReadPathKeys | undefined {
    const entry = cached ?? this.#lookup(handle)
    if (entry === undefined) return undefined
    const refreshed = this.#refresh(handle, entry)
    if (refreshed === REFRESH_STALE) throw staleEntry(handle)
    return typeof refreshed === 'object' && refreshed.usable ? refreshed : undefined
  }

  /** Re-reads the slot of `entry` and caches what it holds, if its generation still matches. */
  #refresh(handle: ShapeHandle, entry: SlotKeys): SlotKeys | typeof REFRESH_BUSY | typeof REFRESH_STALE {
    const words = this.#read
    const seq = this.#slots.read(entry.slot, words)
    if (seq === READ_BUSY) return REFRESH_BUSY
    if (words[S_GENERATION] !== entry.generation) return REFRESH_STALE
    const keys = words[S_STATE] === STATE_READY && !isOverflow(words) ? decodeKeys(words) : undefined
    return this.#cacheKeys(handle, entry, seq, keys)
  }

  /** Caches the keys of `entry`'s slot at `seq` in place of `entry`. */
  #cacheKeys(handle: ShapeHandle, entry: SlotKeys, seq: number, keys: ReadPathKeys | undefined): SlotKeys {
    const cached = entry.at(seq, keys)
    if (cached !== entry) this.#cache.set(handle, cached)
    return cached
  }

  #lookup(handle: ShapeHandle): SlotKeys | undefined {
    if (this.#cacheComplete) return undefined
    const ref = this.#directory.lookup(handle)
    return ref === undefined ? undefined : this.#remember(handle, ref)
  }

  /**
   * The handle's slotted entry, made if it has none (an unslotted entry's keys move into the new
   * slot); undefined when there is no room.
   */
  #entry(handle: ShapeHandle): SlotKeys | undefined {
    const cached = this.#cache.get(handle)
    if (cached?.slotted === true) return cached
    const slots = this.#slots
    const reserve = () => slots.reserve()
    // An unslotted entry is made only for a handle without a directory entry.
    const ref =
      this.#cacheComplete || cached !== undefined
        ? this.#directory.insertAbsent(handle, reserve)
        : this.#directory.insertIfAbsent(handle, reserve)
    if (ref === undefined) return undefined
    if (cached !== undefined) this.#dropUnslotted(handle)
    const entry = this.#remember(handle, ref)
    // Its unslotted keys are current, unless an operation that found no slot has committed since
    // they were read: that commit's report empties the slot (invalidate) as it would have
    // dropped them. So reads keep hitting until the writer's first publish replaces them.
    if (cached !== undefined) this.#fill(handle, entry, cached)
    return entry
  }

  #keepUnslotted(handle: ShapeHandle, keys: ReadPathKeys): void {
    assertHandle(handle) // as the directory does for the slotted
    if (!this.#cache.has(handle)) {
      // Its keys are in LMDB too: the entry that goes costs its next read a miss.
      const oldest = this.#unslotted >= this.#unslottedMax ? this.#evictionOrder.next() : undefined
      if (oldest !== undefined) this.#dropUnslotted(oldest)
      this.#unslotted++
    }
    this.#cache.set(handle, SlotKeys.unslotted(keys))
  }

  #dropUnslotted(handle: ShapeHandle): void {
    this.#cache.delete(handle)
    this.#unslotted--
  }

  #remember(handle: ShapeHandle, ref: SlotRef): SlotKeys {
    // The cache's slotted entries are live ones only (delete removes them), so they never
    // outnumber the slots; the bound is a backstop, and dropping the cache costs one directory
    // lookup per slotted shape (and an LMDB read per unslotted one).
    if (this.#cache.size - this.#unslotted >= this.#cacheEntriesMax) {
      this.#cache.clear()
      this.#unslotted = 0
      this.#cacheComplete = false
    }
    const entry = new SlotKeys(ref, this.#slots.seqIndex(ref.slot))
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

/** Only this object frees slots and it forgets the entry as it does, so a stale entry is a bug. */
function staleEntry(handle: ShapeHandle): EngineError {
  return new EngineError(
    ErrorCode.STORAGE_ERROR,
    `shared table: the slot cached for ${handle} was freed behind the table's back`,
  )
}
