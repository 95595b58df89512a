import { isMainThread } from 'node:worker_threads'
import { EngineError, ErrorCode, LogOffset, type PgSnapshot, type ReadPathKeys } from '@shapestore/engine'
import {
  BACKOFF_SPINS_MAX,
  F_CHUNK_PRESENT,
  F_FILTER_TXNS,
  F_LATEST_OP_INF,
  F_OVERFLOW,
  F_PERSISTED_OP_INF,
  F_PG_SNAPSHOT_PRESENT,
  F_SNAPSHOT_STARTED,
  F_XIP_COUNT_MASK,
  F_XIP_COUNT_SHIFT,
  freeStackBase,
  H_CAPACITY,
  H_FREE_COUNT,
  H_LIVE,
  H_MAGIC,
  H_NEXT_UNUSED,
  H_SLOT_WORDS,
  LOCK_FAST_ATTEMPTS,
  LOCK_WAIT_MS_MAX,
  LOCK_WAIT_SLICE_MS,
  READ_FAST_ATTEMPTS,
  READ_WAIT_MS_MAX,
  S_CHUNK_LO,
  S_FLAGS,
  S_GENERATION,
  S_LATEST_OP_HI,
  S_LATEST_OP_LO,
  S_LATEST_TX_HI,
  S_LATEST_TX_LO,
  S_PERSISTED_OP_HI,
  S_PERSISTED_OP_LO,
  S_PERSISTED_TX_HI,
  S_PERSISTED_TX_LO,
  S_STATE,
  S_XIP,
  S_XMAX_LO,
  S_XMIN_LO,
  SLOT_WORDS,
  STATE_FILLING,
  STATE_FREE,
  STATE_READY,
  seqBase,
  slotBase,
  TABLE_MAGIC,
  tableWords,
  XIP_INLINE_MAX,
} from './layout.ts'

/** `read`: the slot stayed busy for READ_WAIT_MS_MAX; the caller reports a miss. */
export const READ_BUSY = -1
/** `fill`/`publish`: the slot's generation changed (freed, maybe reused): the caller's slot number is stale. */
export const WRITE_STALE = -1
/** `fill`: the slot already holds a value (READY); nothing was written. */
export const FILL_OCCUPIED = -3
/** `fill`: the slot stayed busy for LOCK_WAIT_MS_MAX; nothing was written. */
export const FILL_BUSY = -5
// All of them are odd, and a slot's seq is even whenever it is unlocked, so they never collide
// with the seq these functions return on success.

/** A slot number and the generation it had when a handle was given it. */
export interface SlotRef {
  readonly slot: number
  readonly generation: number
}

const TWO_32 = 2 ** 32

/**
 * The slot array: one fixed-size record of read-path keys per shape in a SharedArrayBuffer,
 * each under a sequence lock (layout.ts has the words).
 *
 * Who writes, who reads:
 * - the shape's writer thread publishes its keys into the slot the main thread gave it
 *   (`publish`: always overwrites);
 * - the main thread fills a reserved slot with keys read from LMDB (`fill`: writes only a slot
 *   that has no value yet, so it never overwrites a publish), clears a value a commit may have
 *   made stale (`clear`), and frees the slot of a removed shape (`release`: generation + 1);
 * - slot allocation (`reserve`, `release`) and the header's free stack belong to the main
 *   thread alone, so they need no lock of their own;
 * - reads (`read`) are lock-free.
 *
 * The seq word is both the readers' seqlock and the writers' mutex: a writer takes the slot by a
 * CAS of seq from even to odd, writes, and stores seq + 1. A fill, a publish and a release can
 * therefore meet on one slot (a reader's fill racing the writer's publish, a removal racing
 * both) and still apply one at a time; a fill checks the state *under* the lock, which is what
 * makes "a publish always wins" hold whatever the timing. A waiting writer backs off, then (on
 * a worker) sleeps in LOCK_WAIT_SLICE_MS slices; unlocks never notify, because a slot is held
 * for a fraction of a microsecond and only a descheduled holder makes anyone wait that long.
 * Writers store the value words with Atomics.store too: on ARM a plain store after the CAS could
 * become visible before the odd seq, and a reader would accept a half-written value.
 *
 * Readers copy the words with Atomics.load between two loads of seq, so a read is consistent on
 * ARM too (plain loads may be reordered after the closing seq check there: docs/design/sharedmap-notes.md §2).
 * A reader finding the slot busy backs off and retries for at most READ_WAIT_MS_MAX, then
 * reports a miss. Every read checks the generation inside the seqlock: a thread that cached an
 * old slot number sees the reuse and misses instead of reading another shape's keys.
 */
export class Slots {
  readonly buffer: SharedArrayBuffer
  readonly capacity: number
  readonly #words: Int32Array
  /** Word index of slot 0's seq; slot n's is `#seqBase + n`. */
  readonly #seqBase: number

  private constructor(buffer: SharedArrayBuffer, capacity: number) {
    this.buffer = buffer
    this.capacity = capacity
    this.#words = new Int32Array(buffer)
    this.#seqBase = seqBase(capacity)
  }

  /** A new table buffer, all slots FREE (a fresh SAB is zero-filled: seq 0, state FREE, generation 0). */
  static create(capacity: number): Slots {
    const buffer = new SharedArrayBuffer(tableWords(capacity) * Int32Array.BYTES_PER_ELEMENT)
    const slots = new Slots(buffer, capacity)
    const words = slots.#words
    words[H_CAPACITY] = capacity
    words[H_SLOT_WORDS] = SLOT_WORDS
    // Published last: another thread handed this buffer checks the magic before anything else.
    Atomics.store(words, H_MAGIC, TABLE_MAGIC)
    return slots
  }

  /** Another thread's view of a buffer made by `create`; refuses anything else. */
  static attach(buffer: unknown): Slots {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new EngineError(ErrorCode.INVALID_OPTION, 'shared table: the descriptor has no SharedArrayBuffer')
    }
    const words = new Int32Array(buffer)
    const capacity = words.length > H_CAPACITY ? Atomics.load(words, H_CAPACITY) : 0
    if (
      Atomics.load(words, H_MAGIC) !== TABLE_MAGIC ||
      Atomics.load(words, H_SLOT_WORDS) !== SLOT_WORDS ||
      words.length !== tableWords(capacity)
    ) {
      throw new EngineError(ErrorCode.INVALID_OPTION, 'shared table: the buffer is not a table of this layout version')
    }
    return new Slots(buffer, capacity)
  }

  /** Slots owned by a handle (FILLING or READY), across all threads. */
  get live(): number {
    return Atomics.load(this.#words, H_LIVE)
  }

  /** The word index of `slot`'s seq, for the caller's no-allocation hit check. */
  seqIndex(slot: number): number {
    return this.#seqBase + slot
  }

  /** Atomics.load of the seq word at `seqIndex`: the whole hit path of an unchanged slot. */
  loadSeq(seqIndex: number): number {
    return Atomics.load(this.#words, seqIndex)
  }

  // ------------------------------------------------------------ allocation (main thread only)

  /**
   * Takes a FREE slot for a new handle and moves it to FILLING (no value yet). Returns undefined
   * when every slot is taken. Only the table's owner (the main thread) allocates: the free stack
   * and H_NEXT_UNUSED have no lock of their own.
   */
  reserve(): SlotRef | undefined {
    const words = this.#words
    let slot: number
    const freeCount = Atomics.load(words, H_FREE_COUNT)
    if (freeCount > 0) {
      slot = Atomics.load(words, freeStackBase(this.capacity) + freeCount - 1)
      Atomics.store(words, H_FREE_COUNT, freeCount - 1)
    } else {
      slot = Atomics.load(words, H_NEXT_UNUSED)
      if (slot >= this.capacity) return undefined
      Atomics.store(words, H_NEXT_UNUSED, slot + 1)
    }
    const base = slotBase(slot)
    const seqAt = this.#seqBase + slot
    // A writer holding a stale slot number may hold the lock for a moment (it will see the
    // generation and let go), so the claim is made under the lock like every other write.
    const locked = this.#lock(seqAt)
    if (locked === undefined) {
      this.#pushFree(slot)
      throw busy(slot, 'reserve')
    }
    // The claim is a CAS so that a slot wrongly on the free stack twice can never be handed out
    // twice: that would be table corruption, so it throws rather than carrying on.
    const previous = Atomics.compareExchange(words, base + S_STATE, STATE_FREE, STATE_FILLING)
    const generation = Atomics.load(words, base + S_GENERATION)
    Atomics.store(words, base + S_FLAGS, 0)
    Atomics.store(words, seqAt, (locked + 1) | 0)
    if (previous !== STATE_FREE) {
      throw new EngineError(ErrorCode.STORAGE_ERROR, `shared table: slot ${slot} was allocated while in use`)
    }
    Atomics.add(words, H_LIVE, 1)
    return { slot, generation }
  }

  /**
   * Frees `ref`'s slot: generation + 1 (so every cached copy of `ref` goes stale), state FREE,
   * and back on the free stack. False if the slot was already freed (generation moved on).
   * Main thread only, like `reserve`.
   */
  release(ref: SlotRef): boolean {
    const words = this.#words
    const base = slotBase(ref.slot)
    const seqAt = this.#seqBase + ref.slot
    const locked = this.#lock(seqAt)
    if (locked === undefined) throw busy(ref.slot, 'release')
    if (Atomics.load(words, base + S_GENERATION) !== ref.generation) {
      Atomics.store(words, seqAt, (locked + 1) | 0)
      return false
    }
    Atomics.store(words, base + S_GENERATION, (ref.generation + 1) | 0)
    Atomics.store(words, base + S_STATE, STATE_FREE)
    Atomics.store(words, base + S_FLAGS, 0)
    Atomics.store(words, seqAt, (locked + 1) | 0)
    this.#pushFree(ref.slot)
    Atomics.sub(words, H_LIVE, 1)
    return true
  }

  #pushFree(slot: number): void {
    const words = this.#words
    const freeCount = Atomics.load(words, H_FREE_COUNT)
    Atomics.store(words, freeStackBase(this.capacity) + freeCount, slot)
    Atomics.store(words, H_FREE_COUNT, freeCount + 1)
  }

  // ------------------------------------------------------------ writers

  /**
   * The shape's writer: stores `encoded` (from encodeKeys) whatever the slot held, FILLING or
   * READY. Returns the slot's new seq, or WRITE_STALE if the slot no longer belongs to `ref`.
   * Throws if the slot stays busy for LOCK_WAIT_MS_MAX (a holder that died mid-write).
   */
  publish(ref: SlotRef, encoded: Int32Array): number {
    const seqAt = this.#seqBase + ref.slot
    const locked = this.#lock(seqAt)
    if (locked === undefined) throw busy(ref.slot, 'publish')
    return this.#writeLocked(ref.slot, locked, ref.generation, encoded, true)
  }

  /**
   * A reader's fill after a miss: stores `encoded` only if the slot has no value yet (FILLING).
   * Returns the new seq, FILL_OCCUPIED (a value is there: the caller reads it), WRITE_STALE or
   * FILL_BUSY (the caller gives up storing and answers with its own keys: they came from LMDB).
   */
  fill(ref: SlotRef, encoded: Int32Array): number {
    // As briefly as a read waits: the miss that led here found the slot busy already, and a
    // longer wait only stalls the event loop (200 ms a fill, on a slot a writer died holding).
    const locked = this.#lock(this.#seqBase + ref.slot, READ_WAIT_MS_MAX)
    if (locked === undefined) return FILL_BUSY
    return this.#writeLocked(ref.slot, locked, ref.generation, encoded, false)
  }

  /**
   * The owner's "this value may be stale": a READY slot of `ref` goes back to FILLING, so reads
   * miss and ask LMDB, and the next fill or publish stores a value again. False if the slot
   * stayed busy (a publish is being written: it is newer than anything this would discard),
   * after as short a wait as a read's (a holder that died is released by releaseAbandoned).
   */
  clear(ref: SlotRef): boolean {
    const words = this.#words
    const seqAt = this.#seqBase + ref.slot
    const locked = this.#lock(seqAt, READ_WAIT_MS_MAX)
    if (locked === undefined) return false
    const base = slotBase(ref.slot)
    if (
      Atomics.load(words, base + S_GENERATION) === ref.generation &&
      Atomics.load(words, base + S_STATE) === STATE_READY
    ) {
      Atomics.store(words, base + S_STATE, STATE_FILLING)
      Atomics.store(words, base + S_FLAGS, 0)
    }
    Atomics.store(words, seqAt, (locked + 1) | 0)
    return true
  }

  /**
   * Unlocks `ref`'s slot if a thread that is gone left it locked (its seq odd), with no value
   * (FILLING: what was half written is discarded; the next read asks LMDB). The caller knows
   * that no living thread can hold this lock: the main thread, for the slots of a writer thread
   * that exited (a writer only ever locks the slots of its own shapes). True if it was locked.
   */
  breakAbandonedLock(ref: SlotRef): boolean {
    const words = this.#words
    const seqAt = this.#seqBase + ref.slot
    const seq = Atomics.load(words, seqAt)
    if ((seq & 1) === 0) return false
    const base = slotBase(ref.slot)
    if (Atomics.load(words, base + S_GENERATION) === ref.generation) {
      Atomics.store(words, base + S_STATE, STATE_FILLING)
      Atomics.store(words, base + S_FLAGS, 0)
    }
    Atomics.store(words, seqAt, (seq + 1) | 0)
    return true
  }

  #writeLocked(slot: number, locked: number, generation: number, encoded: Int32Array, overwrite: boolean): number {
    const words = this.#words
    const base = slotBase(slot)
    const seqAt = this.#seqBase + slot
    const unlocked = (locked + 1) | 0
    if (Atomics.load(words, base + S_GENERATION) !== generation) {
      Atomics.store(words, seqAt, unlocked)
      return WRITE_STALE
    }
    if (!overwrite && Atomics.load(words, base + S_STATE) !== STATE_FILLING) {
      Atomics.store(words, seqAt, unlocked)
      return FILL_OCCUPIED
    }
    const end = encodedEnd(encoded)
    for (let i = S_FLAGS; i < end; i++) Atomics.store(words, base + i, encoded[i]!)
    Atomics.store(words, base + S_STATE, STATE_READY)
    Atomics.store(words, seqAt, unlocked)
    return unlocked
  }

  /** Takes the write lock of the slot whose seq is at `seqAt`: returns the (odd) locked seq, or undefined after `waitMs`. */
  #lock(seqAt: number, waitMs = LOCK_WAIT_MS_MAX): number | undefined {
    const words = this.#words
    let deadline = 0
    for (let attempt = 0; ; attempt++) {
      const seq = Atomics.load(words, seqAt)
      if ((seq & 1) === 0 && Atomics.compareExchange(words, seqAt, seq, (seq + 1) | 0) === seq) return (seq + 1) | 0
      if (attempt >= LOCK_FAST_ATTEMPTS) {
        const now = performance.now()
        if (deadline === 0) deadline = now + waitMs
        else if (now > deadline) return undefined
        // A worker sleeps instead of burning the core the holder may need (2 cores); the main
        // thread keeps spinning: it must not park the event loop in Atomics.wait.
        if (!isMainThread && (seq & 1) === 1) {
          Atomics.wait(words, seqAt, seq, LOCK_WAIT_SLICE_MS)
          continue
        }
      }
      backoff(attempt)
    }
  }

  // ------------------------------------------------------------ readers

  /**
   * Copies a consistent snapshot of the slot's words into `into` (indices as in the slot:
   * S_STATE, S_GENERATION, S_FLAGS, then the value words a READY slot uses) and returns the even
   * seq it was read at, or READ_BUSY if writers kept the slot busy for READ_WAIT_MS_MAX.
   */
  read(slot: number, into: Int32Array): number {
    const words = this.#words
    const base = slotBase(slot)
    const seqAt = this.#seqBase + slot
    let deadline = 0
    for (let attempt = 0; ; attempt++) {
      const seq = Atomics.load(words, seqAt)
      if ((seq & 1) === 0) {
        into[S_STATE] = Atomics.load(words, base + S_STATE)
        into[S_GENERATION] = Atomics.load(words, base + S_GENERATION)
        into[S_FLAGS] = Atomics.load(words, base + S_FLAGS)
        // A torn flags word may claim any xip count: encodedEnd bounds it, and the seq check
        // below throws the copy away.
        if (into[S_STATE] === STATE_READY) {
          const end = encodedEnd(into)
          for (let i = S_LATEST_TX_LO; i < end; i++) into[i] = Atomics.load(words, base + i)
        }
        if (Atomics.load(words, seqAt) === seq) return seq
      }
      if (attempt >= READ_FAST_ATTEMPTS) {
        const now = performance.now()
        if (deadline === 0) deadline = now + READ_WAIT_MS_MAX
        else if (now > deadline) return READ_BUSY
      }
      backoff(attempt)
    }
  }
}

/** Where backoff's delay loop leaves its result, so that the loop cannot be optimised away. */
let backoffSink = 0

/** Waits without touching shared memory: 16 << attempt iterations, capped at BACKOFF_SPINS_MAX. */
function backoff(attempt: number): void {
  const spins = Math.min(16 << Math.min(attempt, 5), BACKOFF_SPINS_MAX)
  let x = backoffSink
  for (let i = 0; i < spins; i++) x = (x * 31 + i) | 0
  backoffSink = x
}

function busy(slot: number, what: string): EngineError {
  // No dedicated code exists for "a slot lock was never released" (it takes a thread that died
  // mid-write); STORAGE_ERROR is the engine's "failed for another reason".
  return new EngineError(
    ErrorCode.STORAGE_ERROR,
    `shared table: slot ${slot} stayed locked for ${LOCK_WAIT_MS_MAX} ms (${what}); a thread died while writing it?`,
  )
}

/** One past the last word a value with these flags uses. */
function encodedEnd(encoded: Int32Array): number {
  const flags = encoded[S_FLAGS]!
  if ((flags & F_OVERFLOW) !== 0) return S_FLAGS + 1
  const xips = Math.min((flags >>> F_XIP_COUNT_SHIFT) & F_XIP_COUNT_MASK, XIP_INLINE_MAX)
  return S_XIP + 2 * xips
}

// ---------------------------------------------------------------- value encoding

/** A scratch buffer for encodeKeys / Slots.read; one per thread (per table view). */
export function slotScratch(): Int32Array {
  return new Int32Array(SLOT_WORDS)
}

/**
 * Encodes `keys` into `out` at the slot's word indices (S_FLAGS and after). Returns false, with
 * only F_OVERFLOW set, when they do not fit exactly: more than XIP_INLINE_MAX xips, or a number
 * that is not a safe integer. An overflow slot makes readers miss, so a value that cannot be
 * stored exactly is never returned approximately.
 */
export function encodeKeys(keys: ReadPathKeys, out: Int32Array): boolean {
  let flags = 0
  const latest = keys.latestOffset
  const persisted = keys.lastPersistedOffset
  if (!putOffset(out, S_LATEST_TX_LO, latest)) return overflow(out)
  if (latest.op === Number.POSITIVE_INFINITY) flags |= F_LATEST_OP_INF
  if (!putOffset(out, S_PERSISTED_TX_LO, persisted)) return overflow(out)
  if (persisted.op === Number.POSITIVE_INFINITY) flags |= F_PERSISTED_OP_INF
  if (keys.snapshotStarted) flags |= F_SNAPSHOT_STARTED
  const chunk = keys.lastSnapshotChunk
  if (chunk !== null) {
    if (!Number.isSafeInteger(chunk)) return overflow(out)
    putI64(out, S_CHUNK_LO, chunk)
    flags |= F_CHUNK_PRESENT
  } else {
    putI64(out, S_CHUNK_LO, 0)
  }
  const snapshot = keys.pgSnapshot
  if (snapshot !== null) {
    const xips = snapshot.xipList
    if (xips.length > XIP_INLINE_MAX) return overflow(out)
    if (!Number.isSafeInteger(snapshot.xmin) || !Number.isSafeInteger(snapshot.xmax)) return overflow(out)
    putI64(out, S_XMIN_LO, snapshot.xmin)
    putI64(out, S_XMAX_LO, snapshot.xmax)
    for (let i = 0; i < xips.length; i++) {
      const xip = xips[i]!
      if (!Number.isSafeInteger(xip)) return overflow(out)
      putI64(out, S_XIP + 2 * i, xip)
    }
    flags |= F_PG_SNAPSHOT_PRESENT | (xips.length << F_XIP_COUNT_SHIFT)
    if (snapshot.filterTxns) flags |= F_FILTER_TXNS
  } else {
    putI64(out, S_XMIN_LO, 0)
    putI64(out, S_XMAX_LO, 0)
  }
  out[S_FLAGS] = flags
  return true
}

/** Whether the words (from `read` or `encodeKeys`) are an overflow marker. */
export function isOverflow(words: Int32Array): boolean {
  return (words[S_FLAGS]! & F_OVERFLOW) !== 0
}

/** One frozen empty xip list for every snapshot without one (most): no array per slot decoded. */
const NO_XIPS: readonly number[] = Object.freeze([])

/**
 * Builds the keys from a consistent copy of a READY, non-overflow slot (the table keeps their
 * fields in the SlotKeys it hands to every later hit of this thread).
 */
export function decodeKeys(words: Int32Array): ReadPathKeys {
  const flags = words[S_FLAGS]!
  const latestOffset = offsetAt(words, S_LATEST_TX_LO, (flags & F_LATEST_OP_INF) !== 0)
  const persistedInf = (flags & F_PERSISTED_OP_INF) !== 0
  // A shape at rest has visible == persisted: one object then, not two.
  const lastPersistedOffset =
    words[S_PERSISTED_TX_LO] === words[S_LATEST_TX_LO] &&
    words[S_PERSISTED_TX_HI] === words[S_LATEST_TX_HI] &&
    words[S_PERSISTED_OP_LO] === words[S_LATEST_OP_LO] &&
    words[S_PERSISTED_OP_HI] === words[S_LATEST_OP_HI] &&
    persistedInf === ((flags & F_LATEST_OP_INF) !== 0)
      ? latestOffset
      : offsetAt(words, S_PERSISTED_TX_LO, persistedInf)
  let pgSnapshot: PgSnapshot | null = null
  if ((flags & F_PG_SNAPSHOT_PRESENT) !== 0) {
    const count = (flags >>> F_XIP_COUNT_SHIFT) & F_XIP_COUNT_MASK
    const xipList: number[] = []
    for (let i = 0; i < count; i++) xipList.push(getI64(words, S_XIP + 2 * i))
    pgSnapshot = Object.freeze({
      xmin: getI64(words, S_XMIN_LO),
      xmax: getI64(words, S_XMAX_LO),
      xipList: count === 0 ? NO_XIPS : Object.freeze(xipList),
      filterTxns: (flags & F_FILTER_TXNS) !== 0,
    })
  }
  return {
    latestOffset,
    lastPersistedOffset,
    pgSnapshot,
    snapshotStarted: (flags & F_SNAPSHOT_STARTED) !== 0,
    lastSnapshotChunk: (flags & F_CHUNK_PRESENT) !== 0 ? getI64(words, S_CHUNK_LO) : null,
  }
}

function overflow(out: Int32Array): false {
  out[S_FLAGS] = F_OVERFLOW
  return false
}

/** Writes tx at lo, lo+1 and op at lo+2, lo+3 (0 for Infinity, which a flag carries). */
function putOffset(out: Int32Array, lo: number, offset: LogOffset): boolean {
  const op = offset.op === Number.POSITIVE_INFINITY ? 0 : offset.op
  if (!Number.isSafeInteger(offset.tx) || !Number.isSafeInteger(op)) return false
  putI64(out, lo, offset.tx)
  putI64(out, lo + 2, op)
  return true
}

function offsetAt(words: Int32Array, lo: number, opInfinite: boolean): LogOffset {
  return LogOffset.of(getI64(words, lo), opInfinite ? Number.POSITIVE_INFINITY : getI64(words, lo + 2))
}

/** A safe integer as (low 32 bits, high bits as a signed Int32): exact, -1 included. */
function putI64(out: Int32Array, lo: number, value: number): void {
  out[lo] = value >>> 0
  out[lo + 1] = Math.floor(value / TWO_32)
}

function getI64(words: Int32Array, lo: number): number {
  return words[lo + 1]! * TWO_32 + (words[lo]! >>> 0)
}
