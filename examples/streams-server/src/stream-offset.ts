import { LogOffset } from '@shapestore/engine'

/**
 * Stream offsets as clients see them, and the engine offsets behind them.
 *
 * A stream is one engine shape. Append number n of a stream is engine transaction n; its
 * messages are ops 0, 1, ... (a JSON stream stores one item per message, any other content type
 * one item per append). An offset names the position after the message it points at, so a read
 * from offset X returns the engine's items in (X, tail] and the tail is the last item's offset.
 *
 * Clients get `tx_op` with both parts zero-padded to 16 digits, which sorts lexicographically in
 * offset order (the protocol's requirement); the position before the first message is all
 * zeros, the engine's `0_inf` (the end of an Electric shape's snapshot region, which a stream
 * does not use).
 */
const DIGITS = 16
const OFFSET_PATTERN = /^(\d{16})_(\d{16})$/
const ZERO = `${'0'.repeat(DIGITS)}_${'0'.repeat(DIGITS)}`

/** The engine position before a stream's first message. */
export const STREAM_START = LogOffset.LAST_BEFORE_REAL

export function formatOffset(offset: LogOffset): string {
  if (!offset.isReal) return ZERO
  return `${String(offset.tx).padStart(DIGITS, '0')}_${String(offset.op).padStart(DIGITS, '0')}`
}

/** The engine offset of a client's offset token (`-1` is the start), or null when it is not one. */
export function parseOffset(text: string): LogOffset | null {
  if (text === '-1') return STREAM_START
  const match = OFFSET_PATTERN.exec(text)
  if (match === null) return null
  const tx = Number(match[1])
  const op = Number(match[2])
  if (!Number.isSafeInteger(tx) || !Number.isSafeInteger(op)) return null
  if (tx === 0) return op === 0 ? STREAM_START : null
  return LogOffset.of(tx, op)
}
