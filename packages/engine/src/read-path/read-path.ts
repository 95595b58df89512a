import type { Catalog } from '../catalog/catalog.ts'
import { EngineError, ErrorCode } from '../errors.ts'
import { assertHandle, type ShapeHandle } from '../handle.ts'
import type { PartitionStores } from '../log-store/partition-stores.ts'
import { type ReadPathKeys, readPathKeysOf } from './read-path-keys.ts'
import type { ReadPathTable } from './read-path-table.ts'

/**
 * The main thread's answer to "where is this shape?".
 * - Hit: the table has the shape's keys. No validation, no allocation, no disk: only valid,
 *   known handles ever get an entry.
 * - Miss: validate the handle, find its partition in the catalog (its place record, not its
 *   definition), read the shape's one metadata record, and insert the keys only if still absent: a writer's value is never overwritten.
 *
 * Removal safety: the facade deletes the catalog lookups before the table entry, so a miss
 * after removal finds no catalog entry and inserts nothing (no resurrection).
 */
export class ReadPath {
  readonly #table: ReadPathTable
  readonly #catalog: Catalog
  readonly #stores: PartitionStores
  /** Reads that missed the table and went to LMDB. */
  misses = 0

  constructor(table: ReadPathTable, catalog: Catalog, stores: PartitionStores) {
    this.#table = table
    this.#catalog = catalog
    this.#stores = stores
  }

  keys(handle: ShapeHandle): ReadPathKeys {
    return this.#table.get(handle) ?? this.#fill(handle)
  }

  #fill(handle: ShapeHandle): ReadPathKeys {
    assertHandle(handle)
    this.misses++
    const place = this.#catalog.place(handle)
    if (place === undefined) throw new EngineError(ErrorCode.UNKNOWN_HANDLE, `no shape has handle ${handle}`)
    const fromDisk = readPathKeysOf(this.#stores.get(place.partition).readMeta(place.shapeId))
    return this.#table.insertIfAbsent(handle, fromDisk)
  }
}
