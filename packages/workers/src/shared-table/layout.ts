/**
 * The memory layout of the shared read-path-key table: every word index, flag and bound in one
 * place, so the writer side (slots.ts encode/lock) and the reader side (slots.ts decode,
 * shared-table.ts) cannot disagree. Nothing here is mutable: it is read by every thread.
 *
 * One SharedArrayBuffer holds, as Int32 words:
 *
 *   [ header: HEADER_WORDS ][ slot 0 ] ... [ slot capacity-1 ][ seqs: capacity ][ free stack: capacity ]
 *
 * A slot is SLOT_WORDS words (128 bytes: two cache lines, with the latest offset in the first).
 * The header is also 128 bytes so that every slot starts on a 128-byte boundary (the SAB itself
 * is page-aligned) and no two slots share a cache line.
 *
 * The seq words (each slot's sequence lock) are not in the slots but side by side, 4 bytes a
 * slot, because a repeated hit reads nothing else of shared memory: over 50,000 shapes in random
 * order the seqs are 200 KB that stay in the cache, where one word in each 128-byte slot touched
 * 6.4 MB and cost a cache and TLB miss per hit (measured: 250-280 ns per hit with the seq in the
 * slot, 107-169 ns with the seq check skipped). Sixteen seqs share a cache line, so a publish
 * costs the readers of its 15 neighbours one miss: a publish per commit against reads far more
 * frequent.
 *
 * 64-bit numbers (offset parts, chunk numbers, xids) are two words: LO holds the low 32 bits,
 * HI the high 32 bits as a signed Int32, so `HI * 2^32 + (LO >>> 0)` is exact for every safe
 * integer, including -1 (BEFORE_ALL's tx) which is simply the two's complement pair (-1, -1).
 */

// ---------------------------------------------------------------- header (words of the SAB)

/** Header words; a multiple of 32 so slots start on a 128-byte boundary. */
export const HEADER_WORDS = 32
/** Identifies a table buffer (and its layout version) when a worker receives one. */
export const H_MAGIC = 0
/** Slots in the table. */
export const H_CAPACITY = 1
/** Words per slot, checked by fromShared so a mismatched build is refused. */
export const H_SLOT_WORDS = 2
/** Slots never used yet: slots [H_NEXT_UNUSED, capacity) are FREE and not on the free stack. */
export const H_NEXT_UNUSED = 3
/** Entries on the free stack (slots freed by delete, reused first). */
export const H_FREE_COUNT = 4
/** Slots currently owned by a handle (FILLING or READY). */
export const H_LIVE = 5
/**
 * Never written, so always 0: the seq word of a main-thread entry that has no slot
 * (shared-table.ts), whose hit check is then the same Atomics.load as a slotted entry's and
 * always passes.
 */
export const H_UNCHANGING = 6

/** "SHT5": bump the digit whenever a word index or flag below changes meaning. */
export const TABLE_MAGIC = 0x5348_5435

// ---------------------------------------------------------------- slot words (relative to the slot)

/** 32 Int32 words = 128 bytes, a multiple of the 64-byte cache line. */
export const SLOT_WORDS = 32

/** FREE / FILLING / READY. */
export const S_STATE = 0
/** Incremented each time the slot is freed; the directory stores it next to the slot number. */
export const S_GENERATION = 1
/** F_* bits and the inline xip count. */
export const S_FLAGS = 2
export const S_LATEST_TX_LO = 3
export const S_LATEST_TX_HI = 4
export const S_LATEST_OP_LO = 5
export const S_LATEST_OP_HI = 6
export const S_PERSISTED_TX_LO = 7
export const S_PERSISTED_TX_HI = 8
export const S_PERSISTED_OP_LO = 9
export const S_PERSISTED_OP_HI = 10
export const S_CHUNK_LO = 11
export const S_CHUNK_HI = 12
export const S_XMIN_LO = 13
export const S_XMIN_HI = 14
export const S_XMAX_LO = 15
export const S_XMAX_HI = 16
/** First of XIP_INLINE_MAX (LO, HI) pairs. */
export const S_XIP = 17
/** xip entries stored in the slot; a pg snapshot with more sets F_OVERFLOW (the read falls back to LMDB). */
export const XIP_INLINE_MAX = Math.floor((SLOT_WORDS - S_XIP) / 2)

// ---------------------------------------------------------------- slot states (S_STATE)

/** On the free stack or never used: no handle maps to it. */
export const STATE_FREE = 0
/** Reserved for a handle (the directory maps to it) but no value yet: a fill may write it. */
export const STATE_FILLING = 1
/** Holds a value; only a publish (the shape's writer) overwrites it. */
export const STATE_READY = 2

// ---------------------------------------------------------------- S_FLAGS bits

export const F_SNAPSHOT_STARTED = 1 << 0
/** lastSnapshotChunk is a number (S_CHUNK_*); clear means null. */
export const F_CHUNK_PRESENT = 1 << 1
/** pgSnapshot is present (S_XMIN.. and the xips); clear means null. */
export const F_PG_SNAPSHOT_PRESENT = 1 << 2
export const F_FILTER_TXNS = 1 << 3
/** latestOffset.op is Infinity (`tx_inf`); S_LATEST_OP_* are then 0. */
export const F_LATEST_OP_INF = 1 << 4
/** lastPersistedOffset.op is Infinity. */
export const F_PERSISTED_OP_INF = 1 << 5
/** The keys did not fit (e.g. more than XIP_INLINE_MAX xips): readers must miss and ask LMDB. */
export const F_OVERFLOW = 1 << 6
export const F_XIP_COUNT_SHIFT = 8
export const F_XIP_COUNT_MASK = 0xf

// ---------------------------------------------------------------- capacity

/**
 * Slots the table has when the caller gives no capacity (docs/design/ARCHITECTURE.md: 50k is normal):
 * shapes a writer has had (a shape only read takes none). Written shapes beyond it read LMDB
 * after each commit. Not 1M: the directory's hash spreads entries
 * over all of its pages, so at 2^20 capacity 100,000 touched shapes made 193 MiB resident
 * (2 KiB each) against 70 MiB at this default.
 */
export const TABLE_CAPACITY_DEFAULT = 100_000
export const TABLE_CAPACITY_MIN = 1
/** The 1M-shape horizon: 132 MiB of slots and free stack plus 138 MiB of directory. */
export const TABLE_CAPACITY_MAX = 1 << 20

/** Int32 words of a table buffer with `capacity` slots. */
export function tableWords(capacity: number): number {
  return HEADER_WORDS + capacity * SLOT_WORDS + 2 * capacity
}

/** Word index of slot `slot`'s first word. */
export function slotBase(slot: number): number {
  return HEADER_WORDS + slot * SLOT_WORDS
}

/**
 * Word index of the first slot's seq. A slot's seq is its sequence lock: odd while a writer
 * holds the slot; every write moves it by 2.
 */
export function seqBase(capacity: number): number {
  return HEADER_WORDS + capacity * SLOT_WORDS
}

/** Word index of the free stack's first entry. */
export function freeStackBase(capacity: number): number {
  return seqBase(capacity) + capacity
}

// ---------------------------------------------------------------- concurrency bounds

/**
 * Seqlock read attempts made before a reader starts watching the clock. A write holds a slot for
 * well under a microsecond, so a read that keeps finding it busy is either racing a burst of
 * writes (worth a short wait) or looking at a writer descheduled mid-write (not worth waiting
 * for: a miss sends the caller to LMDB, which is correct and costs a few microseconds).
 */
export const READ_FAST_ATTEMPTS = 4
/** The longest a read waits for a busy slot before it reports a miss. */
export const READ_WAIT_MS_MAX = 0.02
/**
 * Iterations of the local delay loop between two attempts on a busy slot, doubling from 16 up to
 * this cap (~5 ns each, measured). Backing off is what keeps a waiting thread from stealing the
 * slot's cache line from the writer at every load: with one worker republishing 4 slots as
 * fast as it could, 7-10% of reads were still busy after 256 tight attempts, 0.1% with backoff.
 */
export const BACKOFF_SPINS_MAX = 512
/** Attempts on a busy slot before a writer starts checking the clock and (on a worker) sleeping. */
export const LOCK_FAST_ATTEMPTS = 16
/** How long a writer waits for a busy slot before it gives up with an error (never a hang). */
export const LOCK_WAIT_MS_MAX = 200
/** One Atomics.wait slice of a waiting worker: unlocks do not notify, so waiters poll at this rate. */
export const LOCK_WAIT_SLICE_MS = 1

// ---------------------------------------------------------------- directory (sharedmap) sizing

/** Shape handles are at most 31 characters (engine: isValidHandle). */
export const HANDLE_CHARS_MAX = 31
/** Hex characters of the hash prefix that gives every directory key high entropy. */
export const KEY_PREFIX_CHARS = 8
/** Longest directory key: prefix + handle. */
export const DIRECTORY_KEY_CHARS_MAX = KEY_PREFIX_CHARS + HANDLE_CHARS_MAX
/**
 * sharedmap's keySize (UTF-16 units). A key of exactly keySize chars corrupts the next entry
 * (docs/design/sharedmap-notes.md, finding 1), so every key is strictly shorter, with a margin.
 */
export const DIRECTORY_KEY_SIZE = 44
/** Longest directory value: `<slot base36>.<generation base36>`, at most 4 + 1 + 7 chars. */
export const DIRECTORY_VALUE_CHARS_MAX = 12
/** sharedmap's objSize (UTF-16 units), strictly above DIRECTORY_VALUE_CHARS_MAX for the same reason. */
export const DIRECTORY_VALUE_SIZE = 16
/**
 * The directory holds at most `capacity` entries but is built with this much room per entry:
 * it never passes 90% full, so chains stay short and an operation can never meet a full map
 * (where an overwrite hangs forever: docs/design/sharedmap-notes.md, finding 2).
 */
export const DIRECTORY_ENTRIES_PER_SLOT = 10 / 9

/** sharedmap's maxSize for a table of `capacity` slots. */
export function directoryMaxSize(capacity: number): number {
  return Math.ceil(capacity * DIRECTORY_ENTRIES_PER_SLOT) + 1
}

/** Slotted cache entries kept before the main thread's slot cache is dropped (a backstop: it holds live entries only). */
export function cacheEntriesMax(capacity: number): number {
  return 2 * capacity + 1024
}
