/**
 * The bulk bytes of one turn's operations for one writer thread (transaction records, snapshot
 * parts: already what LMDB stores), copied into a few large buffers that travel with the turn's
 * message as transfers: the bytes are moved, not structured-cloned, and the message carries a
 * handful of buffers however many transactions it holds. Bytes given to several operations of
 * the turn (one fanout transaction for several partitions of a writer) travel once.
 *
 * Owner: one WriterClient on the main thread; `take` hands the buffers to postMessage, which
 * detaches them.
 */

/**
 * Bytes of a frame buffer unless one operation needs more. Large enough that a busy turn
 * (hundreds of 13 KB transactions) needs few buffers; pages untouched are never faulted in, so a
 * quiet turn's small write costs little of it.
 */
export const FRAME_BYTES_MIN = 256 * 1024

export class TransferFrames {
  #buffers: ArrayBuffer[] = []
  #current: Buffer | null = null
  #used = 0
  #copies = new Map<Uint8Array, Uint8Array>()

  /** A view of a copy of `bytes` in this turn's buffers. */
  add(bytes: Uint8Array): Uint8Array {
    const copied = this.#copies.get(bytes)
    if (copied !== undefined) return copied
    let current = this.#current
    if (current === null || this.#used + bytes.length > current.length) {
      current = Buffer.allocUnsafeSlow(Math.max(FRAME_BYTES_MIN, bytes.length))
      this.#current = current
      this.#used = 0
      this.#buffers.push(current.buffer as ArrayBuffer)
    }
    const view = current.subarray(this.#used, this.#used + bytes.length)
    view.set(bytes)
    this.#used += bytes.length
    this.#copies.set(bytes, view)
    return view
  }

  /** The turn's buffers, to transfer; the next add starts a new turn. */
  take(): ArrayBuffer[] {
    const buffers = this.#buffers
    this.#buffers = []
    this.#current = null
    this.#used = 0
    this.#copies.clear()
    return buffers
  }
}
