import { crc32 as zlibCrc32 } from 'node:zlib'
import { Packr } from 'msgpackr'
import { isValidHandle, type ShapeHandle } from '../handle.ts'
import { crc32 } from '../log-store/crc32.ts'
import { DamagedRecord } from '../log-store/damaged-record.ts'
import { readU32 } from '../log-store/value-seal.ts'
import type { CanonicalShape } from '../shape.ts'
import type { ShapePlace } from './place-record.ts'

/**
 * The catalog's sealed values (data format 4 on): a shape's entry in `shapes` (its definition
 * and place) and a definition's handle in `lookup`, each framed as
 *
 *   [u8 CATALOG_VALUE_MARK][u32 seal][body]
 *
 * where the seal is the CRC-32 of the value's key and of the body, as every sealed value's
 * (log-store/value-seal.ts): a flipped byte, or a value found under another key, reads as
 * damage (DamagedRecord), not as another shape. The body of an entry is a msgpack map
 * `{ shape, partition, shapeId }`, of a lookup the handle's ASCII bytes. Values from before
 * format 4 are unsealed (a msgpack map, the handle as a string) and never start with the mark,
 * a byte neither msgpack nor a handle holds: they still read, checked for their form.
 * Place records (place-record.ts) are sealed the same way without the mark.
 */
export const CATALOG_VALUE_MARK = 0xc1
export const CATALOG_SEAL_AT = 1
export const CATALOG_BODY_AT = 5

/** A shape's entry: its definition and where its data is. */
export interface StoredEntry extends ShapePlace {
  readonly shape: CanonicalShape
}

const packr = new Packr({ useRecords: false })

export function encodeEntry(handle: ShapeHandle, entry: StoredEntry): Buffer {
  const { shape, partition, shapeId } = entry
  return sealed(handle, packr.pack({ shape, partition, shapeId }))
}

export function decodeEntry(handle: ShapeHandle, value: Uint8Array): StoredEntry {
  const body = value[0] === CATALOG_VALUE_MARK ? unsealed(handle, value, 'a shape entry') : value
  let decoded: unknown
  try {
    decoded = packr.unpack(body)
  } catch (error) {
    throw new DamagedRecord(`a shape entry that is not msgpack (${(error as Error).message})`)
  }
  if (!isEntry(decoded)) throw new DamagedRecord('a shape entry of the wrong form')
  return decoded
}

export function encodeLookup(digest: string, handle: ShapeHandle): Buffer {
  return sealed(digest, Buffer.from(handle, 'latin1'))
}

export function decodeLookup(digest: string, value: Uint8Array): ShapeHandle {
  const body = value[0] === CATALOG_VALUE_MARK ? unsealed(digest, value, 'a lookup') : value
  const handle = Buffer.from(body.buffer, body.byteOffset, body.length).toString('latin1')
  if (!isValidHandle(handle)) throw new DamagedRecord('a lookup that holds no handle')
  return handle
}

/** The seal of `body` stored under the string key `key`. */
export function catalogSeal(key: string, body: Uint8Array): number {
  return crc32(body, zlibCrc32(key))
}

function sealed(key: string, body: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(CATALOG_BODY_AT + body.length)
  value[0] = CATALOG_VALUE_MARK
  value.set(body, CATALOG_BODY_AT)
  value.writeUInt32BE(catalogSeal(key, body), CATALOG_SEAL_AT)
  return value
}

/** The body of a sealed value, its seal checked. (By offset: lmdb-js' read buffer reports a set `length`.) */
function unsealed(key: string, value: Uint8Array, what: string): Uint8Array {
  if (value.length < CATALOG_BODY_AT) throw new DamagedRecord(`${what} of ${value.length} bytes`)
  const body = value.subarray(CATALOG_BODY_AT, value.length)
  if (readU32(value, CATALOG_SEAL_AT) !== catalogSeal(key, body)) throw new DamagedRecord(`${what}: checksum mismatch`)
  return body
}

function isEntry(value: unknown): value is StoredEntry {
  if (typeof value !== 'object' || value === null) return false
  const { shape, partition, shapeId } = value as Record<string, unknown>
  if (!Number.isSafeInteger(partition) || (partition as number) < 0) return false
  if (!Number.isSafeInteger(shapeId) || (shapeId as number) < 1) return false
  if (typeof shape !== 'object' || shape === null) return false
  const { table, where, columns, replica } = shape as Record<string, unknown>
  return (
    typeof table === 'string' &&
    (where === null || typeof where === 'string') &&
    (columns === null || (Array.isArray(columns) && columns.every((column) => typeof column === 'string'))) &&
    (replica === 'default' || replica === 'full')
  )
}
