import { DamagedRecord } from '../log-store/damaged-record.ts'
import { readU32 } from '../log-store/value-seal.ts'
import { catalogSeal } from './catalog-records.ts'

/**
 * A shape's place record, in the catalog's `places` database under its handle (data format 4
 * on): where the shape's log and metadata are, without its definition. A read-path miss (every
 * shape's first read after a restore) reads only this, 12 bytes, where the shape's entry in
 * `shapes` is its whole definition as msgpack: three times the pages to fault in on a cold
 * restore (the bench's 50,000 shapes: 861 leaf pages against 2,586) and a decode that allocates
 * the definition's objects.
 *
 *   [u32 seal][u32 partition][u32 shape id]
 *
 * The seal is the CRC-32 of the handle and of the rest of the value, as every sealed value's
 * (log-store/value-seal.ts, catalog-records.ts): a flipped byte, or a record found under another
 * handle, reads as damage, not as another shape's place.
 */
export const PLACE_SEAL_AT = 0
export const PLACE_PARTITION_AT = 4
export const PLACE_SHAPE_ID_AT = 8
export const PLACE_BYTES = 12

/** Where a shape's data lives: its partition (LMDB environment) and its id in storage keys. */
export interface ShapePlace {
  readonly partition: number
  readonly shapeId: number
}

export function encodePlace(handle: string, place: ShapePlace): Buffer {
  const value = Buffer.allocUnsafe(PLACE_BYTES)
  value.writeUInt32BE(place.partition, PLACE_PARTITION_AT)
  value.writeUInt32BE(place.shapeId, PLACE_SHAPE_ID_AT)
  value.writeUInt32BE(checksum(handle, value), PLACE_SEAL_AT)
  return value
}

/**
 * The place in `value`, the record stored under `handle`; DamagedRecord unless it has the
 * record's size and seal. (`value` may be lmdb-js' read buffer, whose `length` is set per read
 * over a larger region: read by offset, never by its end.)
 */
export function decodePlace(handle: string, value: Uint8Array): ShapePlace {
  if (value.length !== PLACE_BYTES) {
    throw new DamagedRecord(`a place record of ${value.length} bytes, not ${PLACE_BYTES}`)
  }
  if (readU32(value, PLACE_SEAL_AT) !== checksum(handle, value)) {
    throw new DamagedRecord('a place record: checksum mismatch')
  }
  return { partition: readU32(value, PLACE_PARTITION_AT), shapeId: readU32(value, PLACE_SHAPE_ID_AT) }
}

/** The seal: CRC-32 of the handle's bytes (ASCII: handle.ts), then of the value after the seal. */
function checksum(handle: string, value: Uint8Array): number {
  return catalogSeal(handle, value.subarray(PLACE_PARTITION_AT, PLACE_BYTES))
}
