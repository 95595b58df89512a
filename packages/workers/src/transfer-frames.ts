/**
 * Bytes of a frame buffer, the one most operations share. Small because a transferred buffer is
 * new external memory to the isolate that receives it, whatever part of it is used. At 1 MiB a
 * message V8 ran a full mark-compact every ~900 messages (21-24 in 20,000 postMessages to a
 * worker; 0-1 at 64 KiB), and a streams server on 2 writer threads, appending to one stream, ran
 * 26-35 in 6 s (2 at 128 KiB, with 9-20 % more appends/s).
 */
export const FRAME_BYTES = 128 * 1024
/**
 * An operation bigger than FRAME_BYTES gets a buffer of its own, rounded up to a multiple of
 * FRAME_BYTES up to this size, so repeated big operations (snapshot parts, just over 1 MiB each)
 * reuse their buffers too; a bigger one gets one of its own size, never kept.
 */
export const OWN_BUFFER_POOLED_BYTES_MAX = 4 * 1024 * 1024
/** Bytes of buffers handed back and kept for reuse, at most (per writer thread). */
export const FRAME_POOL_BYTES_MAX = 32 * 1024 * 1024
/**
 * A turn that has reserved this many bytes goes out at once rather than at the turn's end: a
 * turn that encodes hundreds of megabytes (thousands of snapshots resolved by one commit) would
 * otherwise leave the writer idle until it is all encoded, and need fresh buffers for all of it
 * because none comes back before the writer has them.
 */
export const TURN_FLUSH_BYTES = 4 * 1024 * 1024

/**
 * The bulk bytes of one turn's operations for one writer thread (transaction records, snapshot
 * parts: already what LMDB stores), kept in buffers that travel with the turn's message as
 * transfers: the bytes are moved, not structured-cloned, and the message carries one buffer per
 * FRAME_BYTES of them (a big operation one of its own) however many transactions they hold. The
 * main thread encodes a transaction straight into them (`reserve`); bytes encoded elsewhere are
 * copied in once (`add`).
 *
 * The writer hands each buffer back once every operation that used it has committed
 * (`recycle`), so steady load reuses the same few buffers: a fresh buffer costs an allocation
 * and a page fault per 4 KiB on first write, which measured as much as the encoding itself.
 *
 * Owner: one WriterClient on the main thread; `take` hands the turn's buffers to postMessage,
 * which detaches them here.
 */
export class TransferFrames {
  /** Kept buffers by size: the multiples of FRAME_BYTES up to OWN_BUFFER_POOLED_BYTES_MAX. */
  readonly #pool = new Map<number, ArrayBuffer[]>()
  #pooledBytes = 0
  #turn: ArrayBuffer[] = []
  /** Bytes reserved this turn that no operation has claimed (`add`) yet. */
  readonly #unclaimed = new Set<Uint8Array>()
  /** The frame buffer small reservations go into. */
  #current: ArrayBuffer | null = null
  #used = 0
  #turnBytes = 0

  /** Bytes reserved since the last `take`. */
  get turnBytes(): number {
    return this.#turnBytes
  }

  /**
   * Whether the turn should go out now: it is TURN_FLUSH_BYTES or more, and every byte reserved
   * in it belongs to an operation already queued. A call that encodes many transactions before
   * it queues any (appendToLogs checks every item first) must not see its later bytes detached.
   */
  get sendEarly(): boolean {
    return this.#turnBytes >= TURN_FLUSH_BYTES && this.#unclaimed.size === 0
  }

  /** `bytes` bytes of this turn's buffers, to encode into. */
  reserve(bytes: number): Buffer {
    let buffer: ArrayBuffer
    let at = 0
    if (bytes > FRAME_BYTES) {
      // A buffer of its own; the frame keeps its room for the small ones that follow.
      buffer = this.#buffer(bytes <= OWN_BUFFER_POOLED_BYTES_MAX ? Math.ceil(bytes / FRAME_BYTES) * FRAME_BYTES : bytes)
      this.#turn.push(buffer)
    } else {
      if (this.#current === null || this.#used + bytes > this.#current.byteLength) {
        this.#current = this.#buffer(FRAME_BYTES)
        this.#turn.push(this.#current)
        this.#used = 0
      }
      buffer = this.#current
      at = this.#used
      this.#used += bytes
    }
    const view = Buffer.from(buffer, at, bytes)
    this.#turnBytes += bytes
    this.#unclaimed.add(view)
    return view
  }

  /** A kept buffer of `size` bytes, else a new one. */
  #buffer(size: number): ArrayBuffer {
    const kept = this.#pool.get(size)?.pop()
    if (kept === undefined) return new ArrayBuffer(size)
    this.#pooledBytes -= size
    return kept
  }

  /** `bytes` for a queued operation, in this turn's buffers: as they are if they were reserved there, else a copy. */
  add(bytes: Uint8Array): Uint8Array {
    if (this.#turn.includes(bytes.buffer as ArrayBuffer)) {
      this.#unclaimed.delete(bytes)
      return bytes
    }
    const copy = this.reserve(bytes.byteLength)
    this.#unclaimed.delete(copy)
    copy.set(bytes)
    return copy
  }

  /** The turn's buffers, to transfer; the next reserve starts a new turn. */
  take(): ArrayBuffer[] {
    const turn = this.#turn
    this.#turn = []
    this.#current = null
    this.#used = 0
    this.#turnBytes = 0
    this.#unclaimed.clear()
    return turn
  }

  /** Buffers the writer is done with: kept for the next turns, up to FRAME_POOL_BYTES_MAX. */
  recycle(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers) {
      const size = buffer.byteLength
      if (!isPooledSize(size) || this.#pooledBytes + size > FRAME_POOL_BYTES_MAX) continue
      const kept = this.#pool.get(size)
      if (kept === undefined) this.#pool.set(size, [buffer])
      else kept.push(buffer)
      this.#pooledBytes += size
    }
  }
}

const isPooledSize = (size: number) =>
  size >= FRAME_BYTES && size <= OWN_BUFFER_POOLED_BYTES_MAX && size % FRAME_BYTES === 0
