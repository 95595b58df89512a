import { EngineError, ErrorCode } from '../errors.ts'
import { LOG_JSON_BYTES_MAX } from '../limits.ts'
import { closing } from '../lmdb-ranges.ts'
import { LogOffset } from '../log-offset.ts'
import { checkSpan, DamagedRecord } from './damaged-record.ts'
import { offsetKey, readU64, readU64View, shapeRange, snapshotChunkRange } from './keys.ts'
import { checkChain, previousEntry, sharedRefKey } from './log-record.ts'
import type { PartitionStore } from './partition-store.ts'
import {
  LAST_PART_OF_CHUNK,
  PART_FLAGS_AT,
  PART_HEADER_BYTES,
  PART_ROW_BYTES_BYTES,
  RECORD_COUNT_AT,
  RECORD_HEADER_BYTES,
  ROW_HEADER_BYTES,
  ROW_JSON_BYTES_BYTES,
  ROW_KEY_BYTES_AT,
  ROW_OP_AT,
  ROW_OVERHEAD_BYTES,
  ROW_TX_AT,
  SHARED_COUNT_BYTES,
} from './record-layout.ts'
import { checkSeal } from './value-seal.ts'
import { listedValue } from './value-size-guard.ts'

/**
 * A committed range of a shape's log as one ready-to-send JSON array `[row,row,...]` (UTF-8),
 * read synchronously: the bulk counterpart of readLogStream (log-stream.ts), with the same
 * range semantics, for ranges that need no waiting (every snapshot chunk complete, every log
 * offset at or below the latest one).
 *
 * Log entries are records of their own or references to a shared record (a fanout stored once
 * per partition, log-record.ts); both are read the same way once resolved.
 *
 * Why bytes and not strings: the row JSON is stored client-ready, so the answer is the stored
 * bytes with `[`, `,` and `]` around them. Each LMDB record is copied whole into a scratch
 * buffer, its rows are compacted there in place (`copyWithin`, no per-row allocation), and the
 * array is copied once into the answer: no row is ever decoded to a string.
 *
 * Writes nothing. Called on the main thread by the engine facade for small reads and in the
 * reader pool's threads (packages/workers/src/reader-task.ts) for big ones; both may assume the
 * result is one consistent LMDB snapshot taken at the call (the read is synchronous and renews
 * the thread's read transaction first).
 */

/**
 * The array is assembled in a scratch buffer kept by this module between calls (it starts at
 * this size and doubles when full), then copied once into an exact-size answer. Measured: a
 * fresh buffer that grows by doubling costs more than the whole LMDB read (page faults on
 * every new buffer, plus the copies of each doubling); a warm scratch buffer costs one copy.
 */
const SCRATCH_INITIAL_BYTES = 64 * 1024
/**
 * A scratch buffer grown past this by an outlier read is dropped after it, not kept: enough
 * for a default 10 MiB chunk with its record headers, so each thread holds at most this.
 */
const SCRATCH_RETAINED_BYTES_MAX = 32 * 1024 * 1024

const OPEN_BRACKET = 0x5b
const COMMA = 0x2c
const CLOSE_BRACKET = 0x5d

/**
 * The shape's committed entries with offsets in (since, upTo] as one JSON array. Throws
 * SNAPSHOT_INCOMPLETE if the range reaches into a snapshot that is not complete
 * (`lastSnapshotChunk` null): the caller then streams (readLogStream tails the snapshot).
 * As in the stream, a complete snapshot simply has no chunk past `lastSnapshotChunk`, so a
 * range from the last chunk on continues into the log.
 */
export function readLogJson(
  store: PartitionStore,
  shapeId: number,
  since: LogOffset,
  upTo: LogOffset,
  lastSnapshotChunk: number | null,
): Buffer {
  const out = new JsonArrayWriter(takeScratch())
  try {
    if (upTo.isAfter(since))
      store.checkedRead(shapeId, () => copyRange(store, shapeId, since, upTo, lastSnapshotChunk, out))
    return out.finish()
  } finally {
    keepScratch(out.scratch)
  }
}

function copyRange(
  store: PartitionStore,
  shapeId: number,
  since: LogOffset,
  upTo: LogOffset,
  lastSnapshotChunk: number | null,
  out: JsonArrayWriter,
): void {
  // Another thread's commit (a writer worker's) is invisible to this thread's read transaction
  // until it is renewed, which lmdb-js does only on a timer tick (measured: without this line a
  // read right after a writer thread's commit misses it). Callers take `upTo` from keys
  // published after that commit, so renew first: the read is then one snapshot that has it.
  store.env.resetReadTxn()
  if (since.isBefore(LogOffset.LAST_BEFORE_REAL)) {
    const firstChunk = since.isBeforeAll ? 0 : since.op + 1
    if (reachesChunk(upTo, firstChunk)) {
      if (lastSnapshotChunk === null) {
        throw new EngineError(
          ErrorCode.SNAPSHOT_INCOMPLETE,
          'the snapshot of this shape is not complete: stream the range (getLogStream) instead',
        )
      }
      const lastChunk = upTo.isVirtual ? Math.min(upTo.op, lastSnapshotChunk) : lastSnapshotChunk
      for (let chunk = firstChunk; chunk <= lastChunk; chunk++) {
        if (!copySnapshotChunk(store, shapeId, chunk, out)) {
          throw new DamagedRecord(`snapshot chunk ${chunk} of a complete snapshot ends without its last part`)
        }
      }
    }
  }
  if (upTo.isAfter(LogOffset.LAST_BEFORE_REAL)) {
    const committed = store.lastTxnOffsetInView(shapeId)
    copyLog(store, shapeId, LogOffset.max(since, LogOffset.LAST_BEFORE_REAL), upTo, committed, out)
  }
}

/** Whether (.., upTo] reaches snapshot chunk `0_n` (compared by parts: `0_n` may not be a valid offset). */
function reachesChunk(upTo: LogOffset, n: number): boolean {
  return upTo.tx > 0 || (upTo.tx === 0 && upTo.op >= n)
}

/**
 * Copies the rows of snapshot chunk n; false if the chunk is missing or ends without its last
 * part, which in a complete snapshot is damage (the caller holds the shape: no removal runs).
 */
function copySnapshotChunk(store: PartitionStore, shapeId: number, chunk: number, out: JsonArrayWriter): boolean {
  const range = snapshotChunkRange(shapeId, chunk, 0)
  for (const key of closing(store.snapshot.getKeys(range))) {
    const part = listedValue(store.snapshot, key)
    checkSeal(key, part, 'snapshot part')
    checkSpan(0, PART_HEADER_BYTES, part.length, 'snapshot part header')
    const base = out.stage(part)
    // Read before the rows move: the first row lands on the flags byte.
    const lastOfChunk = (out.view.getUint8(base + PART_FLAGS_AT) & LAST_PART_OF_CHUNK) !== 0
    const end = base + part.length
    let at = base + PART_HEADER_BYTES
    while (at < end) {
      checkSpan(at - base, PART_ROW_BYTES_BYTES, part.length, 'snapshot row length')
      const bytes = out.view.getUint32(at)
      at += PART_ROW_BYTES_BYTES
      checkSpan(at - base, bytes, part.length, 'snapshot row')
      out.moveRow(at, bytes)
      at += bytes
    }
    if (lastOfChunk) return true
  }
  return false
}

/**
 * Copies the log rows in (since, upTo]. Records are keyed by their last row, so only the first
 * record can hold rows at or before `since`, and only a record keyed past `upTo` rows after it:
 * every record in between is copied without looking at its rows' offsets. The log holds every
 * row up to `committed` (the shape's last transaction, in this read's view), so ending before a
 * record keyed at or past min(upTo, committed) is damage.
 */
function copyLog(
  store: PartitionStore,
  shapeId: number,
  since: LogOffset,
  upTo: LogOffset,
  committed: LogOffset,
  out: JsonArrayWriter,
): void {
  const mustReach = LogOffset.min(upTo, committed)
  let reached = !mustReach.isAfter(since)
  const start = offsetKey(shapeId, since)
  let first = true
  // The last record copied: the next one must name it as its predecessor (checkChain).
  let last: LogOffset | null = null
  for (const key of closing(store.log.getKeys({ start, end: shapeRange(shapeId).end }))) {
    if (first && key.equals(start)) continue
    const keyTx = readU64(key, 4)
    const keyOp = readU64(key, 12)
    const pastEnd = isAfterParts(keyTx, keyOp, upTo)
    if (!reached) reached = keyTx !== mustReach.tx ? keyTx > mustReach.tx : keyOp >= mustReach.op
    const filter = first || pastEnd
    first = false
    const record = recordOf(store, key)
    checkChain(record.previous, last, since)
    last = LogOffset.of(keyTx, keyOp)
    const length = record.value.length - record.from
    checkSpan(0, RECORD_HEADER_BYTES, length, 'log record header')
    const base = out.stage(record.value, record.from)
    const view = out.view
    const count = view.getUint32(base + RECORD_COUNT_AT)
    // Every length is checked against the staged record: past its end lies scratch memory,
    // which a read would not refuse.
    if (count * ROW_OVERHEAD_BYTES > length - RECORD_HEADER_BYTES) {
      throw new DamagedRecord(`a log record of ${length} bytes cannot hold ${count} rows`)
    }
    let at = base + RECORD_HEADER_BYTES
    for (let i = 0; i < count; i++) {
      checkSpan(at - base, ROW_HEADER_BYTES, length, `log row ${i} header`)
      const keyBytes = view.getUint32(at + ROW_KEY_BYTES_AT)
      const jsonAt = at + ROW_HEADER_BYTES + keyBytes + ROW_JSON_BYTES_BYTES
      checkSpan(at - base + ROW_HEADER_BYTES, keyBytes + ROW_JSON_BYTES_BYTES, length, `log row ${i} key`)
      const jsonBytes = view.getUint32(jsonAt - ROW_JSON_BYTES_BYTES)
      checkSpan(jsonAt - base, jsonBytes, length, `log row ${i} JSON`)
      if (filter) {
        const tx = readU64View(view, at + ROW_TX_AT)
        const op = readU64View(view, at + ROW_OP_AT)
        if (isAfterParts(tx, op, upTo)) break
        if (isAfterParts(tx, op, since)) out.moveRow(jsonAt, jsonBytes)
      } else {
        out.moveRow(jsonAt, jsonBytes)
      }
      at = jsonAt + jsonBytes
    }
    if (pastEnd) return
  }
  if (!reached) throw new DamagedRecord(`the log ends before ${mustReach}, its last transaction`)
}

/**
 * The log record at `key` as an LMDB buffer (valid until the next read) and where the record
 * starts in it: the log's own value, or the shared record a reference points to.
 */
function recordOf(store: PartitionStore, key: Buffer): { value: Uint8Array; from: number; previous: LogOffset | null } {
  const entry = listedValue(store.log, key)
  checkSeal(key, entry, 'log value')
  const previous = previousEntry(entry, readU64(key, 4))
  const reference = sharedRefKey(entry)
  if (reference === null) return { value: entry, from: 0, previous }
  // Copied: the next read reuses lmdb-js' buffer.
  const txsKey = Buffer.from(reference)
  const shared = store.txs.getBinaryFast(txsKey)
  if (shared === undefined) throw new DamagedRecord('a log reference points to no shared record')
  checkSpan(0, SHARED_COUNT_BYTES, shared.length, 'shared record')
  checkSeal(txsKey, shared.subarray(SHARED_COUNT_BYTES, shared.length), 'shared record')
  return { value: shared, from: SHARED_COUNT_BYTES, previous }
}

function isAfterParts(tx: number, op: number, offset: LogOffset): boolean {
  return tx !== offset.tx ? tx > offset.tx : op > offset.op
}

/**
 * The scratch buffer between calls. Owned by this module on its thread (every thread that
 * imports it has its own); a read takes it and gives it back, so a reentrant call (there is
 * none: the read is synchronous) would only allocate its own.
 */
let scratch: Buffer | null = null

function takeScratch(): Buffer {
  const taken = scratch ?? Buffer.allocUnsafeSlow(SCRATCH_INITIAL_BYTES)
  scratch = null
  return taken
}

function keepScratch(buffer: Buffer): void {
  if (buffer.length <= SCRATCH_RETAINED_BYTES_MAX) scratch = buffer
}

/**
 * The array being assembled in the scratch buffer. A record is first copied whole past the
 * written end (`stage`), then each wanted row is moved down to the end (`moveRow`): a row's
 * destination never passes its source, because every row gives up a header (≥ 4 bytes) and
 * takes one comma.
 */
class JsonArrayWriter {
  scratch: Buffer
  /** Big-endian reads of staged headers; replaced with the buffer when it grows. */
  view: DataView
  #at = 1
  #rows = 0

  constructor(scratch: Buffer) {
    this.scratch = scratch
    this.view = new DataView(scratch.buffer, scratch.byteOffset, scratch.length)
    scratch[0] = OPEN_BRACKET
  }

  /**
   * Copies `value` from byte `from` on (an LMDB buffer valid only until the next read) past
   * the end and returns where it starts; what is not moved into the array is overwritten by
   * the next stage.
   */
  stage(value: Uint8Array, from = 0): number {
    const bytes = value.length - from
    // Room for the staged value and the closing bracket.
    this.#reserve(bytes + 1)
    // subarray with an explicit end, not Buffer#copy: getBinaryFast's buffer overrides
    // `length` over a larger region, and Buffer#copy then reads past it (docs/design/log-layout-notes.md,
    // gotcha 5).
    this.scratch.set(value.subarray(from, value.length), this.#at)
    return this.#at
  }

  /** Appends the staged row at [from, from + bytes) to the array. */
  moveRow(from: number, bytes: number): void {
    if (this.#rows > 0) this.scratch[this.#at++] = COMMA
    this.scratch.copyWithin(this.#at, from, from + bytes)
    this.#at += bytes
    this.#rows++
  }

  /** The answer: its own exact-size ArrayBuffer (never the allocUnsafe pool), so it can be transferred. */
  finish(): Buffer {
    this.#reserve(1)
    this.scratch[this.#at++] = CLOSE_BRACKET
    const answer = Buffer.allocUnsafeSlow(this.#at)
    this.scratch.copy(answer, 0, 0, this.#at)
    return answer
  }

  #reserve(bytes: number): void {
    const needed = this.#at + bytes
    if (needed <= this.scratch.length) return
    if (needed > LOG_JSON_BYTES_MAX) {
      throw new EngineError(
        ErrorCode.TOO_LARGE,
        `the range holds over ${LOG_JSON_BYTES_MAX} bytes of JSON: read it a chunk at a time or stream it`,
      )
    }
    const capacity = Math.min(Math.max(this.scratch.length * 2, needed), LOG_JSON_BYTES_MAX)
    const grown = Buffer.allocUnsafeSlow(capacity)
    this.scratch.copy(grown, 0, 0, this.#at)
    this.scratch = grown
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length)
  }
}
