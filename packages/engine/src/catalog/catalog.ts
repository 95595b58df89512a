import { join } from 'node:path'
import { type Database, open, type RootDatabase } from 'lmdb'
import { EngineError, ErrorCode } from '../errors.ts'
import { HandleMinter, handlePrefix, type ShapeHandle } from '../handle.ts'
import { CursorPages, type KeySpan } from '../integrity/cursor-pages.ts'
import { SHAPE_ID_MAX } from '../limits.ts'
import { closing } from '../lmdb-ranges.ts'
import { lmdbSettled } from '../lmdb-settled.ts'
import { corruptCatalogRead, DamagedRecord } from '../log-store/damaged-record.ts'
import { type LmdbNativeEnv, TailPadder } from '../log-store/tail-padding.ts'
import { guardValueSizes } from '../log-store/value-size-guard.ts'
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
  /**
   * Writes of the `shapes` database (creations, removals) begun, and those under way: a list is
   * exact about what it meets (a listed entry gone, fewer entries than counted) only if none was
   * under way when it started and none began while it ran, since its cursor reads one snapshot
   * and its gets the latest.
   */
  #shapeWritesBegun = 0
  #shapeWritesUnderWay = 0
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
  /** The checks of #checkCursorPages, on the catalog's data file. */
  readonly #cursorPages: CursorPages

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
    this.#cursorPages = new CursorPages(join(path, 'data.mdb'))
    this.#nextShapeId = (this.#config.get('nextShapeId') as number | undefined) ?? 1
    const inUse = this.#config.get('partitionsInUse') as number[] | undefined
    this.#partitionsInUse = new Set(inUse ?? options.partitionsWithData?.() ?? [])
  }

  static open(dir: string, options: CatalogOptions): Catalog {
    const path = join(dir, 'catalog')
    // No event-turn batching: each creation is one explicit transaction. lmdb-js' event-turn
    // batch leaves a promise of its own that rejects, unhandled, when a commit fails (a full
    // disk), which would end the process (lmdb-js issue #368); see `lmdbSettled` for the other one.
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
    const stored = this.#read(recordOf(handle), () => this.#storedEntry(handle))
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
    return this.#read(recordOf(handle), () => {
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

  /**
   * Runs a catalog read: damage met on the way is STORAGE_CORRUPT naming the catalog file and
   * `what` (corruptCatalogRead), and the read transaction that met it is dropped, since LMDB
   * fails every later read in it with MDB_BAD_TXN: the next read starts a fresh one.
   */
  #read<T>(what: string, read: () => T): T {
    try {
      return corruptCatalogRead(this.#path, what, read)
    } catch (error) {
      if (error instanceof EngineError && error.code === ErrorCode.STORAGE_CORRUPT) this.#env.resetReadTxn()
      throw error
    }
  }

  /**
   * Checks the pages of database `name` that the cursor opened next reads (cursor-pages.ts: LMDB
   * checks none, and lmdb-js' cursor copies garbled key sizes unchecked), and drops the read
   * transaction, so that cursor's snapshot is the commit checked or a later one. Within #read:
   * a damaged page is DamagedRecord.
   */
  #checkCursorPages(name: string, span?: KeySpan): void {
    this.#env.resetReadTxn()
    const { lastTxnId } = (this.#env as unknown as { env: LmdbNativeEnv }).env.info()
    const problem = this.#cursorPages.problem(name, lastTxnId, span)
    if (problem !== undefined) throw new DamagedRecord(problem)
  }

  /** The handle of the shape; STORAGE_CORRUPT, naming the catalog file and the table, if its lookup or entry is damaged. */
  lookupHandle(shape: CanonicalShape): ShapeHandle | undefined {
    this.recordsRead++
    const digest = shapeDigest(shape)
    return this.#read(`the lookup of a shape of ${shape.table}`, () => {
      const value = this.#lookup.getBinaryFast(digest)
      if (value === undefined) {
        this.#confirmAbsent(shape, digest)
        return undefined
      }
      const handle = decodeLookup(digest, value)
      // The digest is a sha256; comparing the stored shape makes a collision harmless anyway.
      const stored = this.#storedEntry(handle)
      return stored !== undefined && shapeKey(stored.shape) === shapeKey(shape) ? handle : undefined
    })
  }

  /**
   * Throws DamagedRecord if a shape of this definition has an entry: then its lookup is lost to a
   * damaged page (LMDB's search through a garbled leaf answers "not found" as readily as through a
   * sound one), and answering "absent" would make getOrCreate mint a second handle for the shape.
   * A handle starts with bits of its definition's digest (HandleMinter), so the candidates are the
   * entries under that prefix, found in the `shapes` database, not in the lookup's damaged pages
   * (a cursor there copies garbled key sizes unchecked: lmdb-js' cursor.cpp). Only on a miss,
   * which a creation (a durable commit) follows, so the range read costs nothing that counts.
   */
  #confirmAbsent(shape: CanonicalShape, digest: string): void {
    const prefix = handlePrefix(digest)
    const range = { start: prefix, end: `${prefix.slice(0, -1)}.` } // '.' follows '-'
    // lmdb-js stores a string key that starts above code 27 (a handle: a digit) as its UTF-8.
    this.#checkCursorPages('shapes', { start: Buffer.from(range.start), end: Buffer.from(range.end) })
    const key = shapeKey(shape)
    for (const handle of closing(this.#shapes.getKeys(range))) {
      const entry = this.#storedEntry(handle)
      if (entry !== undefined && shapeKey(entry.shape) === key) {
        throw new DamagedRecord(`the lookup of shape ${handle}, which has an entry, is missing`)
      }
    }
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
    this.#beginShapeWrite()
    try {
      if (newPartition) {
        this.#preparePartition(entry.partition)
        this.#partitionsInUse.add(entry.partition)
      }
      await lmdbSettled(
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
    } finally {
      this.#endShapeWrite()
    }
    return { handle, created: true }
  }

  #beginShapeWrite(): void {
    this.#shapeWritesBegun++
    this.#shapeWritesUnderWay++
  }

  #endShapeWrite(): void {
    this.#shapeWritesUnderWay--
  }

  /**
   * Removes the shape's lookups and records the pending removal of its data, in one durable
   * commit. Returns the entry, or undefined if the handle was unknown.
   */
  remove(handle: ShapeHandle): CatalogEntry | undefined {
    const entry = this.entry(handle)
    if (entry === undefined) return undefined
    this.#beginShapeWrite()
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
    } finally {
      this.#endShapeWrite()
    }
    this.#tail.pad()
    return entry
  }

  /** Called once the shape's partition data is gone. */
  async finishRemoval(shapeId: number): Promise<void> {
    try {
      await lmdbSettled(this.#removals.remove(shapeId))
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
    return this.#read('the list of unfinished removals', () => {
      // Normally none (the open of every restore asks): then no cursor, nor a check of its pages.
      if ((this.#removals.getStats() as { entryCount: number }).entryCount === 0) return []
      this.#checkCursorPages('removals')
      return [...this.#removals.getRange().map(({ value }) => value)]
    })
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

  /**
   * Every shape, or those of `table`; STORAGE_CORRUPT, naming the catalog file and the handle, at
   * a damaged entry, or at the end if the cursor met fewer entries than the database counts (a
   * damaged branch page can lead it past a whole subtree of sound leaves). A shape removed while
   * the caller holds the iteration is left out once the cursor reaches it.
   */
  *list(table?: string): Iterable<{ handle: ShapeHandle; shape: CanonicalShape }> {
    // The pages the cursor reads, then the count in the snapshot it takes at its first step, just below.
    const expected = this.#read('the list of shapes', () => {
      this.#checkCursorPages('shapes')
      return this.count()
    })
    const begunAtStart = this.#shapeWritesUnderWay === 0 ? this.#shapeWritesBegun : -1
    const quiet = () => this.#shapeWritesBegun === begunAtStart
    const handles = closing(this.#shapes.getKeys())
    let listed = 0
    try {
      for (;;) {
        // LMDB's cursor meets damaged branch pages as it moves: coded too.
        const next = this.#read('the list of shapes', () => handles.next())
        if (next.done === true) break
        const handle = next.value
        this.recordsRead++
        listed++
        const shape = this.#read(recordOf(handle), () => {
          const value = this.#shapes.getBinaryFast(handle)
          if (value !== undefined) return decodeEntry(handle, value).shape
          // The cursor's snapshot has it and the latest state does not: removed meanwhile, or lost.
          if (quiet()) throw new DamagedRecord('a key its range lists is not found')
          return undefined
        })
        if (shape !== undefined && (table === undefined || shape.table === table)) yield { handle, shape }
      }
    } finally {
      handles.return() // the caller may stop early
    }
    if (listed !== expected && quiet()) {
      this.#read('the list of shapes', () => {
        throw new DamagedRecord(`${listed} entries listed of the ${expected} the database counts`)
      })
    }
  }

  count(): number {
    return (this.#shapes.getStats() as { entryCount: number }).entryCount
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#creating.values())
    await this.#env.close()
    this.#cursorPages.close()
  }
}

/** What a damaged record of shape `handle` is called in STORAGE_CORRUPT. */
function recordOf(handle: ShapeHandle): string {
  return `the catalog record of shape ${handle}`
}
