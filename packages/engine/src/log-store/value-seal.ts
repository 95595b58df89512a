import { crc32 } from './crc32.ts'
import { DamagedRecord } from './damaged-record.ts'
import { SEAL_AT, SEAL_BYTES } from './record-layout.ts'

/**
 * The checksum every stored log record, shared record, shared-record reference and snapshot
 * part starts with (record-layout.ts): CRC-32 of the value's LMDB key and of the rest of the
 * value, so a flipped byte anywhere in the value, or a value found under another key, reads as
 * damage instead of as rows. LMDB checksums nothing. Written by the writer as it stores the value
 * (it knows the key; one record is stored under several keys when it goes to a few shapes), and
 * checked by every read before anything in the value is decoded (crc32.ts: which implementation).
 */

/** Writes the seal of `value` stored under `key` into its first SEAL_BYTES. */
export function seal(key: Uint8Array, value: Uint8Array): void {
  const checksum = crc32(value.subarray(SEAL_BYTES, value.length), crc32(key))
  new DataView(value.buffer, value.byteOffset, value.byteLength).setUint32(SEAL_AT, checksum)
}

/**
 * Throws DamagedRecord unless `value`, from byte `from` on, carries the seal of itself under
 * `key` (`from` spares a caller whose seal is not at byte 0 a subarray). (`subarray` with an
 * explicit end: lmdb-js' getBinaryFast buffers report a `length` over a larger region.)
 */
export function checkSeal(key: Uint8Array, value: Uint8Array, what: string, from = 0): void {
  if (value.length - from < SEAL_BYTES) {
    throw new DamagedRecord(`${what}: ${value.length - from} bytes, shorter than its checksum`)
  }
  if (readU32(value, from + SEAL_AT) !== crc32(value.subarray(from + SEAL_BYTES, value.length), crc32(key))) {
    throw new DamagedRecord(`${what}: checksum mismatch`)
  }
}

/** The big-endian u32 at `at`, by hand: no DataView allocated per value on the read path. */
export function readU32(value: Uint8Array, at: number): number {
  return (
    (value[at] as number) * 2 ** 24 +
    ((value[at + 1] as number) << 16) +
    ((value[at + 2] as number) << 8) +
    (value[at + 3] as number)
  )
}
