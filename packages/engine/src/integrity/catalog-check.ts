import { dirname } from 'node:path'
import { type Database, open } from 'lmdb'
import { decodeEntry, decodeLookup, type StoredEntry } from '../catalog/catalog-records.ts'
import { decodePlace } from '../catalog/place-record.ts'
import { guardValueSizes, listedValue } from '../log-store/value-size-guard.ts'
import { MSGPACK_MAP_VALUES } from '../msgpack-values.ts'

/**
 * Checks the catalog's values (catalog/catalog-records.ts, catalog/place-record.ts): every shape
 * entry and lookup decodes (and, from data format 4, carries its seal); every lookup names a
 * shape and every shape has its lookup (one lost would have its definition created again under a
 * second handle); every place record carries its seal and places its shape where the shape's entry does
 * (a place of no shape, or one that disagrees, sends reads to another shape's data), and every
 * shape made since place records exist (config `placedFrom`) has one (reads refuse it without).
 * Returns a description of the damage, or undefined, and the partitions the entries place
 * shapes in (each must exist). Run only on a catalog file whose pages walked clean.
 */
export function catalogProblem(catalogFile: string): { problem: string | undefined; partitionsInUse: Set<number> } {
  const env = open({ path: dirname(catalogFile), maxDbs: 8, readOnly: true })
  try {
    const binary = (name: string): Database<Buffer, string> => {
      const db = env.openDB<Buffer, string>({ name, encoding: 'binary', keyEncoding: 'ordered-binary' })
      guardValueSizes(db)
      return db
    }
    const shapes = binary('shapes')
    const lookup = binary('lookup')
    const places = binary('places')
    let damaged = 0
    let first: string | undefined
    const check = (what: string, key: string, read: () => void) => {
      try {
        read()
      } catch (error) {
        damaged++
        first ??= `${what} ${key}: ${(error as Error).message}`
      }
    }
    const entries = new Map<string, StoredEntry>()
    for (const handle of shapes.getKeys({})) {
      check('the entry of shape', handle, () => entries.set(handle, decodeEntry(handle, listedValue(shapes, handle))))
    }
    const named = new Set<string>()
    for (const digest of lookup.getKeys({})) {
      check('the lookup', digest, () => {
        const handle = decodeLookup(digest, listedValue(lookup, digest))
        if (!entries.has(handle)) throw new Error('it names no shape')
        named.add(handle)
      })
    }
    for (const handle of entries.keys()) {
      check('the lookup of shape', handle, () => {
        if (!named.has(handle)) throw new Error('missing')
      })
    }
    const placed = new Set<string>()
    for (const handle of places.getKeys({})) {
      placed.add(handle)
      check('the place of shape', handle, () => {
        const place = decodePlace(handle, listedValue(places, handle))
        const entry = entries.get(handle)
        if (entry === undefined) throw new Error('a place record of no shape')
        if (entry.partition !== place.partition || entry.shapeId !== place.shapeId) {
          throw new Error(`a place record that disagrees with the shape's entry`)
        }
      })
    }
    const config = env.openDB<unknown, string>({ name: 'config', ...MSGPACK_MAP_VALUES, keyEncoding: 'ordered-binary' })
    const placedFrom = (config.get('placedFrom') as number | undefined) ?? Number.POSITIVE_INFINITY
    for (const [handle, entry] of entries) {
      check('the place of shape', handle, () => {
        if (entry.shapeId >= placedFrom && !placed.has(handle)) throw new Error('missing (the entry has none)')
      })
    }
    return {
      problem: damaged === 0 ? undefined : `${damaged} catalog records are damaged (the first: ${first})`,
      partitionsInUse: new Set([...entries.values()].map((entry) => entry.partition)),
    }
  } finally {
    env.close()
  }
}
