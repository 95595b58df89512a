import { join } from 'node:path'
import { type Database, open, type RootDatabase } from 'lmdb'
import { EngineError, ErrorCode } from '../errors.ts'
import { HandleMinter, type ShapeHandle } from '../handle.ts'
import { SHAPE_ID_MAX } from '../limits.ts'
import { settled } from '../lmdb-settled.ts'
import { corruptCatalogRead, DamagedRecord } from '../log-store/damaged-record.ts'
import { TailPadder } from '../log-store/tail-padding.ts'
import { guardValueSizes, listedValue } from '../log-store/value-size-guard.ts'
import { MSGPACK_MAP_VALUES } from '../msgpack-values.ts'
import { type CanonicalShape, shapeDigest, shapeKey } from '../shape.ts'
import { storageFailure } from '../storage-failure.ts'
import { decodeEntry, decodeLookup, encodeEntry, encodeLookup, type StoredEntry } from './catalog-records.ts'
import { decodePlace, encodePlace, type ShapePlace } from './place-record.ts'

export type { ShapePlace }

/** What the catalog knows of one shape. */
export interface CatalogEntry extends ShapePlace {
  readonly handle: ShapeHandle
  readonly shape: CanonicalShape
}

/** A removal whose lookups are gone but whose partition data may still be there. */
export interface PendingRemoval {
  readonly handle: ShapeHandle
  readonly partition: number
  readonly shapeId: number
}

/**
 * The data format. 4: each shape also has a place record (place-record.ts), so a read-path miss
 * does not read its definition, and shape entries and lookups are sealed (catalog-records.ts);
 * shapes made before have no place record and are placed from their entry, and their unsealed
 * entries and lookups still read;
 * 3: catalog values are plain msgpack maps (msgpack-values.ts), shape metadata
 * records are sealed too (log-store/shape-meta.ts), and log entries end with their chain
 * (log-store/record-layout.ts);
 * 2: every log value is sealed with a checksum (log-store/value-seal.ts); 1 had no seals.
 * Format 2 reads as it is (its record-encoded values, unsealed metadata and unchained log entries
 * still decode) and is marked 3 at its first open here, since format 3 values are written from
 * then on: an engine of format 2 would misread them, so it must refuse the directory, which it
 * does on the version.
 */
const LAYOUT_VERSION = 4
/** Formats this engine opens and marks LAYOUT_VERSION: an engine of any of them refuses the directory afterwards. */
const LAYOUT_UPGRADABLE: readonly number[] = [2, 3]

export interface CatalogOptions {
  readonly partitions: number
  readonly mapSizeBytes: number
  /**
   * Called (synchronously) before the first shape is placed in a partition: it creates the
   * partition's environment durably, so a partition the catalog names always exists on disk
   * (and a missing one is corruption: see integrity/directory-check.ts).
   */
  readonly preparePartition?: ((partition: number) => void) | undefined
  /** For a directory from before partitions were recorded: the partitions that hold data. */
  readonly partitionsWithData?: (() => readonly number[]) | undefined
}

/**
 * The catalog persists only the handle <-> shape lookups, each shape's partition and its
 * storage id, in its own LMDB environment `<dir>/catalog`. Opening it reads four config records
 * (layout, nextShapeId, partitionsInUse, placedFrom) and the (normally empty) list of
 * unfinished removals: nothing per shape, so open time does not grow with the number of shapes.
 *
 * Owner: the engine facade on the main thread is the only writer. Creation writes are batched
 * by lmdb-js per event turn; concurrent creations of one shape share one in-flight promise.
 * Removal commits synchronously, so the moment removeShape's first step returns, no lookup can
 * find the shape any more.
 */
export class Catalog {
  readonly partitions: number
  readonly #env: RootDatabase
  readonly #path: string
  readonly #shapes: Database<Buffer, string>
  readonly #lookup: Database<Buffer, string>
  readonly #places: Database<Buffer, string>
  readonly #removals: Database<PendingRemoval, number>
  readonly #config: Database<unknown, string>
  /** Zeros past the catalog's last page, as a partition's (tail-padding.ts): this is its one writer. */
  readonly #tail: TailPadder
  readonly #minter = new HandleMinter()
  readonly #creating = new Map<string, Promise<{ handle: ShapeHandle; created: boolean }>>()
  readonly #preparePartition: (partition: number) => void
  /** Partitions holding shapes (persisted in config `partitionsInUse`). */
  readonly #partitionsInUse: Set<number>
  #nextShapeId: number
  /**
   * Shapes with an id from this one on have a place record (config `placedFrom`, recorded with
   * the layout as the directory became format 4); before it, they are placed from their entry.
   */
  #placedFrom = Number.POSITIVE_INFINITY
  /** Shape records read since open (entries, lookups, listings): what "reads per shape" counts. */
  recordsRead = 0

  private constructor(env: RootDatabase, path: string, options: CatalogOptions) {
    this.#env = env
    this.#path = path
    this.partitions = options.partitions
    this.#preparePartition = options.preparePartition ?? (() => {})
    this.#shapes = env.openDB({ name: 'shapes', encoding: 'binary', keyEncoding: 'ordered-binary' })
    this.#lookup = env.openDB({ name: 'lookup', encoding: 'binary', keyEncoding: 'ordered-binary' })
    this.#places = env.openDB({ name: 'places', encoding: 'binary', keyEncoding: 'ordered-binary' })
    for (const db of [this.#shapes, this.#lookup, this.#places]) guardValueSizes(db)
    this.#removals = env.openDB({ name: 'removals', ...MSGPACK_MAP_VALUES, keyEncoding: 'uint32' })
    this.#config = env.openDB({ name: 'config', ...MSGPACK_MAP_VALUES, keyEncoding: 'ordered-binary' })
    this.#tail = new TailPadder(env, join(path, 'data.mdb'))
    this.#nextShapeId = (this.#config.get('nextShapeId') as number | undefined) ?? 1
    const inUse = this.#config.get('partitionsInUse') as number[] | undefined
    this.#partitionsInUse = new Set(inUse ?? options.partitionsWithData?.() ?? [])
  }

  static open(dir: string, options: CatalogOptions): Catalog {
    const path = join(dir, 'catalog')
    // No event-turn batching: each creation is one explicit transaction. lmdb-js' event-turn
    // batch leaves a promise of its own that rejects, unhandled, when a commit fails (a full
    // disk), which would end the process (lmdb-js issue #368); see `settled` for the other one.
    const env = open({ path, maxDbs: 8, mapSize: options.mapSizeBytes, eventTurnBatching: false })
    try {
      const catalog = new Catalog(env, path, options)
      // Padded after every commit (creation, removal), so only a directory this open wrote to
      // needs it; a restore that writes nothing is spared the file's open, stat and close.
      if (catalog.#checkLayout()) catalog.#tail.pad()
      return catalog
    } catch (error) {
      env.close()
      throw error
    }
  }

  /**
   * A new directory records its layout; an existing one must match it (checked before anything
   * is written), and an older one is marked the current format. True if it wrote anything.
   */
  #checkLayout(): boolean {
    const layout = this.#config.get('layout') as { version: number; partitions: number } | undefined
    if (layout !== undefined) {
      if (layout.version !== LAYOUT_VERSION && !LAYOUT_UPGRADABLE.includes(layout.version)) {
        throw new EngineError(
          ErrorCode.CONFIG_MISMATCH,
          `the directory holds data format ${layout.version}; this engine reads formats ${LAYOUT_UPGRADABLE.join(', ')} and ` +
            `${LAYOUT_VERSION} (format 2 added a checksum to every stored value): open it with the engine that wrote it`,
        )
      }
      if (layout.partitions !== this.partitions) {
        throw new EngineError(
          ErrorCode.CONFIG_MISMATCH,
          `the directory was created with ${layout.partitions} partitions, opened with ${this.partitions}`,
        )
      }
    }
    let wrote = false
    if (layout?.version !== LAYOUT_VERSION) {
      wrote = true
      this.#env.transactionSync(() => {
        this.#config.putSync('layout', { version: LAYOUT_VERSION, partitions: this.partitions })
        this.#config.putSync('placedFrom', this.#nextShapeId)
      })
    }
    this.#placedFrom = (this.#config.get('placedFrom') as number | undefined) ?? Number.POSITIVE_INFINITY
    if (this.#config.get('partitionsInUse') === undefined) {
      wrote = true
      this.#config.putSync(
        'partitionsInUse',
        [...this.#partitionsInUse].sort((a, b) => a - b),
      )
    }
    return wrote
  }

  /** The shape's entry; STORAGE_CORRUPT, naming the catalog file and the handle, if it is damaged. */
  entry(handle: ShapeHandle): CatalogEntry | undefined {
    this.recordsRead++
    const stored = corruptCatalogRead(this.#path, recordOf(handle), () => this.#storedEntry(handle))
    return stored === undefined ? undefined : { handle, ...stored }
  }

  #storedEntry(handle: ShapeHandle): StoredEntry | undefined {
    const value = this.#shapes.getBinaryFast(handle)
    if (value !== undefined) return decodeEntry(handle, value)
    // An entry and its place are written and removed together: a place without its entry is a
    // damaged page that sent LMDB's search astray, not an unknown shape.
    if (this.#places.doesExist(handle)) throw new DamagedRecord('a shape with a place record and no entry')
    return undefined
  }

  /**
   * Where the shape's data is, from its place record; undefined for an unknown handle. A shape
   * made before data format 4 has no place record and is placed from its entry. STORAGE_CORRUPT,
   * naming the catalog file and the handle, if the record is damaged.
   */
  place(handle: ShapeHandle): ShapePlace | undefined {
    this.recordsRead++
    return corruptCatalogRead(this.#path, recordOf(handle), () => {
      const value = this.#places.getBinaryFast(handle)
      if (value !== undefined) return decodePlace(handle, value)
      const entry = this.#shapes.getBinaryFast(handle)
      if (entry === undefined) return undefined
      const stored = decodeEntry(handle, entry)
      // Made since the directory became format 4, so it had a place record: an entry without its
      // place is a damaged page that sent LMDB's search astray (see #storedEntry).
      if (stored.shapeId >= this.#placedFrom) throw new DamagedRecord('a shape with an entry and no place record')
      return { partition: stored.partition, shapeId: stored.shapeId }
    })
  }

  /** The handle of the shape; STORAGE_CORRUPT, naming the catalog file and the table, if its lookup or entry is damaged. */
  lookupHandle(shape: CanonicalShape): ShapeHandle | undefined {
    this.recordsRead++
    const digest = shapeDigest(shape)
    return corruptCatalogRead(this.#path, `the lookup of a shape of ${shape.table}`, () => {
      const value = this.#lookup.getBinaryFast(digest)
      if (value === undefined) return undefined
      const handle = decodeLookup(digest, value)
      // The digest is a sha256; comparing the stored shape makes a collision harmless anyway.
      const stored = this.#storedEntry(handle)
      return stored !== undefined && shapeKey(stored.shape) === shapeKey(shape) ? handle : undefined
    })
  }

  /** Returns the shape's handle, creating it if needed; concurrent calls for one shape share one creation. */
  getOrCreate(shape: CanonicalShape): Promise<{ handle: ShapeHandle; created: boolean }> {
    const existing = this.lookupHandle(shape)
    if (existing !== undefined) return Promise.resolve({ handle: existing, created: false })
    const digest = shapeDigest(shape)
    const inFlight = this.#creating.get(digest)
    if (inFlight !== undefined) return inFlight.then(({ handle }) => ({ handle, created: false }))
    const creation = this.#create(shape, digest).finally(() => this.#creating.delete(digest))
    this.#creating.set(digest, creation)
    return creation
  }

  async #create(shape: CanonicalShape, digest: string): Promise<{ handle: ShapeHandle; created: boolean }> {
    let handle = this.#minter.mint(digest)
    while (this.#shapes.doesExist(handle)) handle = this.#minter.mint(digest)
    const shapeId = this.#nextShapeId
    if (shapeId > SHAPE_ID_MAX) {
      throw new EngineError(ErrorCode.STORAGE_FULL, `the catalog has issued all ${SHAPE_ID_MAX} shape ids`)
    }
    this.#nextShapeId = shapeId + 1
    const entry: StoredEntry = { shape, partition: shapeId % this.partitions, shapeId }
    const newPartition = !this.#partitionsInUse.has(entry.partition)
    try {
      if (newPartition) {
        this.#preparePartition(entry.partition)
        this.#partitionsInUse.add(entry.partition)
      }
      await settled(
        this.#env.transaction(() => {
          if (newPartition) {
            this.#config.put(
              'partitionsInUse',
              [...this.#partitionsInUse].sort((a, b) => a - b),
            )
          }
          this.#config.put('nextShapeId', this.#nextShapeId)
          this.#shapes.put(handle, encodeEntry(handle, entry))
          this.#places.put(handle, encodePlace(handle, entry))
          this.#lookup.put(digest, encodeLookup(digest, handle))
        }),
      )
      await this.#env.flushed
      this.#tail.pad()
    } catch (error) {
      if (newPartition) this.#partitionsInUse.delete(entry.partition) // not recorded: the next creation retries
      throw storageFailure(error, 'creating a shape', this.#path)
    }
    return { handle, created: true }
  }

  /**
   * Removes the shape's lookups and records the pending removal of its data, in one durable
   * commit. Returns the entry, or undefined if the handle was unknown.
   */
  remove(handle: ShapeHandle): CatalogEntry | undefined {
    const entry = this.entry(handle)
    if (entry === undefined) return undefined
    try {
      this.#env.transactionSync(() => {
        this.#shapes.removeSync(handle)
        this.#places.removeSync(handle)
        const digest = shapeDigest(entry.shape)
        if (this.#lookupNames(digest, handle)) this.#lookup.removeSync(digest)
        this.#removals.putSync(entry.shapeId, { handle, partition: entry.partition, shapeId: entry.shapeId })
      })
    } catch (error) {
      throw storageFailure(error, 'removing a shape', this.#path)
    }
    this.#tail.pad()
    return entry
  }

  /** Called once the shape's partition data is gone. */
  async finishRemoval(shapeId: number): Promise<void> {
    try {
      await settled(this.#removals.remove(shapeId))
    } catch (error) {
      throw storageFailure(error, 'finishing a removal', this.#path)
    }
    this.#tail.pad()
  }

  /** The partitions the catalog has placed shapes in. */
  partitionsInUse(): ReadonlySet<number> {
    return this.#partitionsInUse
  }

  pendingRemovals(): PendingRemoval[] {
    return [...this.#removals.getRange().map(({ value }) => value)]
  }

  /**
   * Whether the lookup of `digest` names `handle` (or is damaged: then it names nothing any read
   * can use, and the removal of a shape of that definition takes it too).
   */
  #lookupNames(digest: string, handle: ShapeHandle): boolean {
    const value = this.#lookup.getBinaryFast(digest)
    if (value === undefined) return false
    try {
      return decodeLookup(digest, value) === handle
    } catch {
      return true
    }
  }

  /** Every shape, or those of `table`; STORAGE_CORRUPT, naming the catalog file and the handle, at a damaged entry. */
  *list(table?: string): Iterable<{ handle: ShapeHandle; shape: CanonicalShape }> {
    const handles = this.#shapes.getKeys()[Symbol.iterator]()
    for (;;) {
      // LMDB's cursor meets damaged branch pages as it moves: coded too.
      const next = corruptCatalogRead(this.#path, 'the list of shapes', () => handles.next())
      if (next.done === true) return
      const handle = next.value
      this.recordsRead++
      const { shape } = corruptCatalogRead(this.#path, recordOf(handle), () =>
        decodeEntry(handle, listedValue(this.#shapes, handle)),
      )
      if (table === undefined || shape.table === table) yield { handle, shape }
    }
  }

  count(): number {
    return (this.#shapes.getStats() as { entryCount: number }).entryCount
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#creating.values())
    await this.#env.close()
  }
}

/** What a damaged record of shape `handle` is called in STORAGE_CORRUPT. */
function recordOf(handle: ShapeHandle): string {
  return `the catalog record of shape ${handle}`
}
