import { dirname } from 'node:path'
import { open } from 'lmdb'
import { decodePlace } from '../catalog/place-record.ts'
import { guardValueSizes, listedValue } from '../log-store/value-size-guard.ts'
import { MSGPACK_MAP_VALUES } from '../msgpack-values.ts'

/**
 * Checks the catalog's place records (catalog/place-record.ts): each one's seal, and that it
 * places its shape where the shape's entry does (a record whose shape is gone, or that
 * disagrees, sends reads to another shape's data). Returns a description of the damage, or
 * undefined. Run only on a catalog file whose pages walked clean.
 */
export function catalogProblem(catalogFile: string): string | undefined {
  const env = open({ path: dirname(catalogFile), maxDbs: 8, readOnly: true })
  try {
    const places = env.openDB<Buffer, string>({ name: 'places', encoding: 'binary', keyEncoding: 'ordered-binary' })
    const shapes = env.openDB<{ partition: number; shapeId: number }, string>({
      name: 'shapes',
      ...MSGPACK_MAP_VALUES,
      keyEncoding: 'ordered-binary',
    })
    guardValueSizes(places)
    let damaged = 0
    let first: string | undefined
    for (const handle of places.getKeys({})) {
      try {
        const place = decodePlace(handle, listedValue(places, handle))
        const entry = shapes.get(handle)
        if (entry === undefined) throw new Error('a place record of no shape')
        if (entry.partition !== place.partition || entry.shapeId !== place.shapeId) {
          throw new Error(`a place record that disagrees with the shape's entry`)
        }
      } catch (error) {
        damaged++
        first ??= `${(error as Error).message} (shape ${handle})`
      }
    }
    return damaged === 0 ? undefined : `${damaged} place records are damaged (the first: ${first})`
  } finally {
    env.close()
  }
}
