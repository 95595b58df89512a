import { performance } from 'node:perf_hooks'
import {
  canonicalShape,
  type Engine,
  EngineError,
  ErrorCode,
  limits,
  type PgSnapshot,
  type ShapeDefinition,
  type ShapeHandle,
} from '@shapestore/engine'
import { startedAfterSnapshot, visibleInSnapshot } from '../pg/visibility.ts'
import { whereEquality } from '../sql/where-compiler.ts'
import { PRIMARY_KEY, type Row, toPgText } from '../table/pg-types.ts'
import type { TableSource } from '../table/table-source.ts'
import { type PendingFanout, TableStore } from '../table/table-store.ts'
import { type Change, planTransaction, validateOps, WriteError } from '../table/transaction.ts'
import { SerialQueue } from '../util/serial-queue.ts'
import { type FanoutEntry, planFanout } from './fanout.ts'
import { snapshotMessage } from './messages.ts'
import { canonicalTableName, ShapeParamError, type ShapeParams, type ShapeSpec, shapeSpec } from './shape-spec.ts'
import { TableShapes } from './table-shapes.ts'

/** What a committed write answers. */
export interface WriteResult {
  readonly tx: number
  /** The offset of the transaction's last change, `tx_op`. */
  readonly offset: string
}

/** One transaction replicated from Postgres (pg-follower.ts). */
export interface ReplicatedTransaction {
  /** The commit LSN as a number: `tx` of the offsets `tx_op`. */
  readonly tx: number
  /** Its 32-bit xid, checked against each shape's pg snapshot. */
  readonly xid: number
  /** The row changes per canonical table, in commit order. */
  readonly changes: ReadonlyMap<string, readonly Change[]>
  /** Asked as the transaction's turn in the queue comes: true, and it is not applied at all. */
  readonly abandoned?: () => boolean
}

/**
 * Request specs are cached by their raw parameters; the cache is dropped past this many, or past
 * this many characters of keys and message keys (a spec of a wide table carries its column list:
 * 10,000 of them, one per value of an unused parameter, could hold gigabytes).
 */
const SPEC_CACHE_MAX = 10_000
const SPEC_CACHE_CHARS_MAX = 16 * 1024 * 1024

/** Shapes collectFiltering reads per event-loop turn. */
const FILTERING_SCAN_SLICE = 1_000
/** How far past its snapshot's xmax a transaction switches an untouched shape's filtering off (see #filtering). */
const FILTER_OFF_XIDS = 2 ** 30
/** How often #stopFiltering looks at the shapes still filtering, at most. */
const FILTERING_CHECK_MS = 10_000

/**
 * The example's shapes on top of the engine and a table source (the embedded table store, or
 * Postgres): resolves request parameters to shapes, creates shapes with a snapshot of the
 * current table state, applies write transactions (the store's own, or those replicated from
 * Postgres) and fans them out, removes and rotates shapes. Writes, creations and removals run
 * one at a time (SerialQueue); reads need no lock. That queue is also what makes a Postgres
 * snapshot and the replication stream meet exactly once: a transaction the snapshot did not see
 * committed after it was taken, so it is fanned out after the shape is registered.
 *
 * The in-memory registry (handle → spec) is filled lazily from the engine's catalog, so a
 * restart reads nothing per shape: a shape enters it when a request names it (one catalog
 * lookup and its keys), and a table's shapes all enter it at the table's first write after
 * the start (the fanout needs every one of them). Those enter unresolved: indexed by their
 * stored where text (TableShapes), their spec compiled and their snapshot checked (a read of
 * its keys: a read-path miss after a restart) only when a change goes to them or a request
 * names them, not for the whole table.
 */
export class ShapeService {
  readonly #engine: Engine
  readonly #tables: TableSource
  readonly #queue = new SerialQueue()
  readonly #byHandle = new Map<ShapeHandle, ShapeSpec>()
  readonly #byKey = new Map<string, ShapeHandle>()
  readonly #byTable = new Map<string, TableShapes>()
  /** Registered by a table load with their definition only: compiled when first met (#specOfRegistered). */
  readonly #unresolved = new Map<ShapeHandle, { readonly table: string; readonly definition: ShapeDefinition }>()
  readonly #creating = new Map<string, Promise<ShapeHandle>>()
  /** Registered by a table load without checking that their snapshot completed (#checked). */
  readonly #unchecked = new Set<ShapeHandle>()
  readonly #specs = new Map<string, ShapeSpec>()
  /** Characters of the cached specs' keys and message keys. */
  #specChars = 0
  /**
   * Shapes whose pg snapshot still filters replicated transactions (filterTxns), as met since the
   * start, with their snapshot's xmax (32-bit). A shape that changes reach stops filtering at the
   * first one after its snapshot (#seenBySnapshot); one that a narrow where-clause or a quiet
   * table keeps out of the changes filtered on, and 2^31 transactions later a 32-bit xid compared
   * as older than its snapshot: its change was dropped. Those stop once a transaction is
   * FILTER_OFF_XIDS past their xmax (#stopFiltering): so far on, a replayed transaction (the
   * unacknowledged tail, seconds) cannot be one the snapshot holds, which an append would not
   * skip as a duplicate. Shapes of an earlier run enter when met, or by a catalog scan
   * after the start (collectFiltering).
   */
  readonly #filtering = new Map<ShapeHandle, number>()
  /** When #stopFiltering last looked at #filtering (performance.now()); 0: at the next transaction. */
  #filteringCheckedAt = 0
  /** Tables whose shapes have all been read from the catalog since the start (see #loadedTable). */
  readonly #tablesLoaded = new Set<string>()
  #lastFannedOutTx = 0

  private constructor(engine: Engine, tables: TableSource) {
    this.#engine = engine
    this.#tables = tables
  }

  /**
   * Opens the service without reading any shape; a transaction whose fanout a crash
   * interrupted is fanned out again (which loads that table's shapes). A shape whose snapshot
   * never completed (a crash during creation) or whose definition no longer compiles is
   * removed when it is first met: its clients get a 409 and refetch.
   */
  static async open(engine: Engine, tables: TableSource): Promise<ShapeService> {
    const service = new ShapeService(engine, tables)
    await service.#queue.run(() => service.#finishPending())
    service.#lastFannedOutTx = tables.lastTx
    return service
  }

  /** The last committed transaction. */
  get lastTx(): number {
    return this.#tables.lastTx
  }

  /**
   * The last transaction that is in every shape's log it belongs to (Electric's
   * `global_last_seen_lsn`: what the server has fully processed). Behind lastTx while a
   * fanout is under way.
   */
  get lastFannedOutTx(): number {
    return this.#lastFannedOutTx
  }

  /**
   * resolve(), asking the source again once when it does not have the table (a Postgres table
   * created since the start). Only a request for an unknown table pays for the lookup.
   */
  async resolveFresh(params: ShapeParams): Promise<ShapeSpec> {
    try {
      return this.resolve(params)
    } catch (error) {
      if (!(error instanceof ShapeParamError) || error.field !== 'table') throw error
      const table = canonicalTableName(params.table)
      if (this.#tables.schema(table) !== undefined) throw error
      await this.#tables.refreshSchema(table)
      return this.resolve(params)
    }
  }

  /** The spec for request parameters; ShapeParamError for an unknown table or a bad definition. */
  resolve(params: ShapeParams): ShapeSpec {
    const cacheKey = JSON.stringify([
      params.table,
      params.where,
      params.columns,
      params.replica,
      [...(params.params ?? [])],
    ])
    const cached = this.#specs.get(cacheKey)
    if (cached !== undefined) return cached
    const table = canonicalTableName(params.table)
    const schema = this.#tables.schema(table)
    if (schema === undefined) throw new ShapeParamError('table', `Table ${table} does not exist`)
    const spec = shapeSpec(params, table, schema)
    const chars = cacheKey.length + spec.messagesKey.length
    if (this.#specs.size >= SPEC_CACHE_MAX || this.#specChars + chars > SPEC_CACHE_CHARS_MAX) this.#forgetSpecs()
    this.#specs.set(cacheKey, spec)
    this.#specChars += chars
    return spec
  }

  #forgetSpecs(): void {
    this.#specs.clear()
    this.#specChars = 0
  }

  /** The current handle of the shape, if it exists. */
  handleOf(spec: ShapeSpec): ShapeHandle | undefined {
    const known = this.#byKey.get(spec.key)
    if (known !== undefined) return this.#checked(known) ? known : undefined
    if (this.#creating.has(spec.key)) return undefined
    const handle = this.#engine.fetchHandleByShape(spec.definition)
    return handle === undefined ? undefined : this.#restore(handle, spec.definition)?.handle
  }

  specOf(handle: ShapeHandle): ShapeSpec | undefined {
    const known = this.#specOfRegistered(handle)
    if (known !== undefined) return this.#checked(handle) ? known : undefined
    const shape = this.#engine.fetchShapeByHandle(handle)
    return shape === undefined ? undefined : this.#restore(handle, shape)?.spec
  }

  /**
   * Registers a shape found in the catalog, or, when it must go (incomplete snapshot, a
   * definition that no longer compiles), queues its removal and answers undefined. A shape
   * being created in this process is not judged: its snapshot is still being written.
   * `checkSnapshot` false (a table load) leaves the snapshot to #checked, at first use.
   */
  #restore(
    handle: ShapeHandle,
    shape: ShapeDefinition,
    checkSnapshot = true,
  ): { handle: ShapeHandle; spec: ShapeSpec } | undefined {
    const key = JSON.stringify(canonicalShape(shape))
    if (this.#creating.has(key)) return undefined
    const spec = this.#specFromDefinition(shape)
    if (spec === null || spec.key !== key || (checkSnapshot && !this.#snapshotComplete(handle))) {
      void this.remove(handle).catch(() => {})
      return undefined
    }
    this.#register(handle, spec)
    if (!checkSnapshot) this.#unchecked.add(handle)
    return { handle, spec }
  }

  /**
   * True when the registered shape may be served and written. A shape a table load registered
   * unchecked is checked now; if its snapshot never completed it leaves the registry at once
   * and its removal is queued.
   */
  #checked(handle: ShapeHandle): boolean {
    if (!this.#unchecked.delete(handle) || this.#snapshotComplete(handle)) return true
    this.#unregister(handle)
    void this.remove(handle).catch(() => {})
    return false
  }

  /** The fanout entries whose shape may be written (#checked). */
  #deliverable(entries: FanoutEntry[]): FanoutEntry[] {
    return this.#unchecked.size === 0 ? entries : entries.filter(({ handle }) => this.#checked(handle))
  }

  /** False for a shape whose creation a crash interrupted before its snapshot completed. */
  #snapshotComplete(handle: ShapeHandle): boolean {
    const latest = this.#engine.fetchLatestOffset(handle)
    return !(latest.isVirtual && latest.op === Number.POSITIVE_INFINITY)
  }

  /** The shape's handle, creating it (with a snapshot of the table's current rows) if needed. */
  getOrCreate(spec: ShapeSpec): Promise<ShapeHandle> {
    const existing = this.handleOf(spec)
    if (existing !== undefined) return Promise.resolve(existing)
    let creating = this.#creating.get(spec.key)
    if (creating === undefined) {
      creating = this.#queue.run(() => this.#create(spec)).finally(() => this.#creating.delete(spec.key))
      this.#creating.set(spec.key, creating)
    }
    return creating
  }

  /** Removes a shape; its clients get 409 and a new handle on their next request. */
  remove(handle: ShapeHandle): Promise<boolean> {
    return this.#queue.run(() => this.#remove(handle))
  }

  /**
   * Applies one write transaction to `table` and fans it out; null when it changed nothing.
   * `onCommit` runs once it is durable in the table store, before the fanout.
   */
  write(tableName: string, body: unknown, onCommit?: (tx: number) => void): Promise<WriteResult | null> {
    let table: string
    try {
      table = canonicalTableName(tableName)
    } catch (error) {
      throw new WriteError(400, 'table', (error as Error).message)
    }
    const store = this.#tables
    if (!(store instanceof TableStore)) {
      throw new WriteError(400, 'table', 'this server follows Postgres: write with SQL')
    }
    const ops = validateOps(body)
    return this.#queue.run(async () => {
      await this.#finishPending()
      const schema = store.schema(table)
      const plan = planTransaction(ops, schema, (id) => store.row(table, id))
      if (plan.changes.length === 0) return null
      const tx = store.lastTx + 1
      let entries: FanoutEntry[] | undefined
      if (!plan.schemaChanged) {
        let planned: FanoutEntry[]
        try {
          planned = this.#plan(table, tx, plan.changes)
        } catch (error) {
          if (error instanceof EngineError)
            throw new WriteError(400, 'ops', `too large for a shape log: ${error.message}`)
          throw error
        }
        entries = this.#deliverable(planned)
      }
      const pending = store.commit(table, plan.schema, plan.changes, plan.schemaChanged)
      onCommit?.(pending.tx)
      if (plan.schemaChanged) this.#forgetSpecs()
      try {
        await this.#fanout(pending, entries)
      } catch {
        // A writer thread that died rejects what it had not acknowledged; replaying is safe
        // (appends are idempotent). A second failure leaves the pending record for the next
        // queued operation (or the next start) to finish.
        await this.#fanout(pending)
      }
      this.#lastFannedOutTx = pending.tx
      await this.#tables.clearPending()
      return { tx: pending.tx, offset: `${pending.tx}_${plan.changes.length - 1}` }
    })
  }

  /**
   * Fans a transaction replicated from Postgres out to the shapes of the tables it changed,
   * leaving out every shape whose pg snapshot already saw it. Resolves, in the queue, once the
   * appends are issued (so the next transaction's follow them in order, and a shape created
   * after it is registered after them), with the time spent planning (where-evaluation,
   * messages) and `durable`: resolves once the transaction is durable in every shape's log it
   * went to (the follower may then let Postgres forget it), with the time that took. Null, with
   * nothing appended, when `txn.abandoned` says so as its turn in the queue comes.
   */
  applyReplicated(txn: ReplicatedTransaction): Promise<{ planMs: number; durable: Promise<number> } | null> {
    return this.#queue.run(async () => {
      if (txn.abandoned?.() === true) return null
      const planStart = performance.now()
      const appends: Promise<void>[] = []
      this.#stopFiltering(txn.xid, appends)
      for (const [table, changes] of txn.changes) {
        const tooLarge: ShapeHandle[] = []
        const planned = this.#plan(table, txn.tx, changes, txn.xid, (handle) => tooLarge.push(handle))
        // A shape whose part is over the engine's limits cannot follow the table: it is rotated
        // (its clients get 409 and refetch a snapshot that holds the change) before anything
        // later is appended to it, instead of the transaction stopping replication for good.
        for (const handle of tooLarge) {
          console.error(`shape ${handle}: its part of transaction ${txn.tx} is over the engine's limits; rotated`)
          await this.#remove(handle)
        }
        // Where-clauses first: only the shapes a change goes to have their keys read.
        const entries = this.#deliverable(planned).filter(
          ({ handle }) => !this.#seenBySnapshot(handle, txn.xid, appends),
        )
        for (let start = 0; start < entries.length; start += limits.FANOUT_SHAPES_MAX) {
          appends.push(this.#engine.appendToLogs(entries.slice(start, start + limits.FANOUT_SHAPES_MAX)))
        }
      }
      const appendStart = performance.now()
      const durable = Promise.all(appends).then(() => performance.now() - appendStart)
      // Observed by the follower a moment later; marked handled now so that a failure in
      // between is not reported as an unhandled rejection.
      durable.catch(() => {})
      return { planMs: appendStart - planStart, durable }
    })
  }

  /**
   * Whether the shape's pg snapshot already holds transaction `xid`'s changes. The first
   * transaction that began after the snapshot switches its filtering off for good (stored with
   * filterTxns false, as Electric does; the write joins `writes`), so the comparison of 32-bit
   * xids never runs long enough to wrap around.
   */
  #seenBySnapshot(handle: ShapeHandle, xid: number, writes: Promise<void>[]): boolean {
    const snapshot = this.#engine.fetchPgSnapshot(handle)
    if (snapshot === null || !snapshot.filterTxns) return false
    if (startedAfterSnapshot(snapshot, xid)) {
      writes.push(this.#engine.setPgSnapshot(handle, { ...snapshot, filterTxns: false }))
      this.#filtering.delete(handle)
      return false
    }
    this.#filtering.set(handle, snapshot.xmax % 2 ** 32)
    return visibleInSnapshot(snapshot, xid)
  }

  /**
   * Switches filtering off for the shapes still filtering whose xmax transaction `xid` is
   * FILTER_OFF_XIDS past (#filtering). Looks every FILTERING_CHECK_MS at most: a pass costs a
   * step per such shape, and 2^30 transactions take hours at any rate Postgres reaches.
   */
  #stopFiltering(xid: number, writes: Promise<void>[]): void {
    const now = performance.now()
    if (this.#filteringCheckedAt !== 0 && now - this.#filteringCheckedAt < FILTERING_CHECK_MS) return
    this.#filteringCheckedAt = now
    for (const [handle, xmax] of this.#filtering) {
      // How far past xmax, modulo 2^32; from 3 * 2^30 on it is a transaction before xmax.
      const past = (xid - xmax) >>> 0
      if (past < FILTER_OFF_XIDS || past >= 3 * FILTER_OFF_XIDS) continue
      this.#filtering.delete(handle)
      let snapshot: PgSnapshot | null
      try {
        snapshot = this.#engine.fetchPgSnapshot(handle)
      } catch {
        continue // its keys cannot be read (gone, damaged): its own reads will say so
      }
      if (snapshot?.filterTxns === true)
        writes.push(this.#engine.setPgSnapshot(handle, { ...snapshot, filterTxns: false }))
    }
  }

  /**
   * Adds the shapes of the catalog whose pg snapshot still filters to #filtering (shapes of an
   * earlier run that no change or request has met since the start): a read of each one's keys,
   * FILTERING_SCAN_SLICE a turn, in the queue's gaps. Run by the server some time after the start, not
   * at it (a restart reads nothing per shape).
   */
  async collectFiltering(): Promise<void> {
    const handles = [...this.#engine.listShapes()].map(({ handle }) => handle)
    for (let start = 0; start < handles.length; start += FILTERING_SCAN_SLICE) {
      await this.#queue.run(async () => {
        for (const handle of handles.slice(start, start + FILTERING_SCAN_SLICE)) {
          try {
            const snapshot = this.#engine.fetchPgSnapshot(handle)
            if (snapshot?.filterTxns === true) this.#filtering.set(handle, snapshot.xmax % 2 ** 32)
          } catch {
            // Removed meanwhile, or never snapshotted (a crashed creation): nothing to filter.
          }
        }
      })
      await new Promise((resolve) => setImmediate(resolve))
    }
    this.#filteringCheckedAt = 0 // what it found is looked at with the next transaction
  }

  /**
   * Told by the follower, in commit order, once a replicated transaction and every one before it
   * are durable in the shapes' logs. (Transactions' appends may become durable out of order, in
   * different partitions: lastFannedOutTx must not name one while an earlier one is not.)
   */
  replicatedDurable(tx: number): void {
    if (tx > this.#lastFannedOutTx) this.#lastFannedOutTx = tx
  }

  /** Removes every shape of `table` (a schema change, a truncate); their clients refetch. */
  rotateTable(table: string): Promise<void> {
    return this.#queue.run(async () => {
      this.#forgetSpecs()
      for (const handle of [...this.#loadedTable(table).handles()]) await this.#remove(handle)
    })
  }

  /** Removes every shape (the replication slot was lost: changes may have been missed); how many. */
  rotateAll(): Promise<number> {
    return this.#queue.run(async () => {
      this.#forgetSpecs()
      const handles = [...this.#engine.listShapes()].map(({ handle }) => handle)
      for (const handle of handles) await this.#remove(handle)
      return handles.length
    })
  }

  async #create(requested: ShapeSpec): Promise<ShapeHandle> {
    const existing = this.#byKey.get(requested.key)
    if (existing !== undefined && this.#checked(existing)) return existing
    // A snapshot must not include a transaction that is still to be fanned out to it.
    await this.#finishPending()
    // The request's spec may predate a schema change queued before this task (a shape of all
    // columns then lists the old ones): build it again from its definition and today's schema.
    const spec = this.#specFromDefinition(requested.definition)
    if (spec === null || spec.key !== requested.key) {
      throw new ShapeParamError('table', "the shape's table changed under the request; retry")
    }
    const found = this.#engine.fetchHandleByShape(spec.definition)
    if (found !== undefined) {
      // In the catalog but not yet met since the start: complete, or left by a crashed creation.
      if (this.#snapshotComplete(found)) {
        this.#register(found, spec)
        return found
      }
      await this.#remove(found)
    }
    const { handle } = await this.#engine.getOrCreateShape(spec.definition)
    const snapshot = await this.#tables.snapshot(spec.table)
    if (snapshot.pgSnapshot !== null) {
      await this.#engine.setPgSnapshot(handle, snapshot.pgSnapshot)
      const { xmax, filterTxns } = snapshot.pgSnapshot
      if (filterTxns) this.#filtering.set(handle, Number(xmax) % 2 ** 32)
    }
    await this.#engine.makeNewSnapshot(handle, snapshotRows(spec, snapshot.rows))
    this.#register(handle, spec)
    return handle
  }

  #remove(handle: ShapeHandle): Promise<boolean> {
    this.#unregister(handle)
    return this.#engine.removeShape(handle)
  }

  #unregister(handle: ShapeHandle): void {
    this.#unchecked.delete(handle)
    this.#filtering.delete(handle)
    const unresolved = this.#unresolved.get(handle)
    if (unresolved !== undefined) {
      this.#unresolved.delete(handle)
      this.#byTable.get(unresolved.table)?.delete(handle)
    }
    const spec = this.#byHandle.get(handle)
    if (spec === undefined) return
    this.#byHandle.delete(handle)
    this.#byKey.delete(spec.key)
    this.#byTable.get(spec.table)?.delete(handle)
  }

  /** Finishes the fanout of a committed transaction, if one is pending (after a crash or a failed fanout). */
  async #finishPending(): Promise<void> {
    const pending = this.#tables.pending()
    if (pending === undefined) return
    await this.#fanout(pending)
    this.#lastFannedOutTx = pending.tx
    await this.#tables.clearPending()
  }

  /** A schema change rotates the table's shapes (Electric does so on a relation change); otherwise append. */
  async #fanout(pending: PendingFanout, planned?: FanoutEntry[]): Promise<void> {
    if (pending.schemaChanged) {
      this.#forgetSpecs()
      for (const handle of [...this.#loadedTable(pending.table).handles()]) await this.#remove(handle)
      return
    }
    const entries = planned ?? this.#deliverable(this.#plan(pending.table, pending.tx, pending.changes))
    for (let start = 0; start < entries.length; start += limits.FANOUT_SHAPES_MAX) {
      await this.#engine.appendToLogs(entries.slice(start, start + limits.FANOUT_SHAPES_MAX))
    }
  }

  /** planFanout over the table's shapes (run in the queue: no creation is under way meanwhile). */
  #plan(
    table: string,
    tx: number,
    changes: readonly Change[],
    txid?: number,
    onTooLarge?: (handle: ShapeHandle) => void,
  ): FanoutEntry[] {
    return planFanout(
      this.#loadedTable(table),
      (handle) => this.#specOfRegistered(handle),
      tx,
      changes,
      txid,
      onTooLarge,
    )
  }

  /**
   * The table's shapes, all of them: at a table's first use after the start, the ones not yet
   * met are read from the catalog and indexed by their stored where text alone (no compilation:
   * a restart with 50,000 shapes pays a catalog read and a read of the text per shape).
   */
  #loadedTable(table: string): TableShapes {
    const shapes = this.#tableShapes(table)
    if (this.#tablesLoaded.has(table)) return shapes
    const schema = this.#tables.schema(table)
    for (const { handle, shape } of this.#engine.listShapes({ table })) {
      if (this.#byHandle.has(handle)) continue
      if (schema === undefined) {
        void this.remove(handle).catch(() => {})
        continue
      }
      // Not marked unchecked here: resolving it (#specOfRegistered, then #restore) does.
      this.#unresolved.set(handle, { table, definition: shape })
      shapes.add(handle, shape.where === undefined ? null : whereEquality(shape.where, schema))
    }
    this.#tablesLoaded.add(table)
    return shapes
  }

  #tableShapes(table: string): TableShapes {
    let shapes = this.#byTable.get(table)
    if (shapes === undefined) {
      shapes = new TableShapes()
      this.#byTable.set(table, shapes)
    }
    return shapes
  }

  /**
   * The spec of a registered shape, compiling it if a table load left it unresolved; undefined
   * when it is not registered, or when its definition no longer compiles (it then leaves the
   * registry and its removal is queued).
   */
  #specOfRegistered(handle: ShapeHandle): ShapeSpec | undefined {
    const spec = this.#byHandle.get(handle)
    if (spec !== undefined) return spec
    const unresolved = this.#unresolved.get(handle)
    if (unresolved === undefined) return undefined
    const restored = this.#restore(handle, unresolved.definition, false)
    if (restored === undefined) this.#unregister(handle)
    return restored?.spec
  }

  #register(handle: ShapeHandle, spec: ShapeSpec): void {
    this.#unresolved.delete(handle)
    this.#byHandle.set(handle, spec)
    this.#byKey.set(spec.key, handle)
    this.#tableShapes(spec.table).add(handle, spec.where?.equality ?? null)
  }

  /** A definition's spec against the table's current schema; null if it no longer compiles. */
  #specFromDefinition(shape: ShapeDefinition): ShapeSpec | null {
    const table = canonicalTableName(shape.table)
    const schema = this.#tables.schema(table)
    if (schema === undefined) return null
    try {
      const params: ShapeParams = {
        table,
        where: shape.where,
        columns: shape.columns?.map((name) => `"${name.replaceAll('"', '""')}"`).join(','),
        replica: shape.replica,
      }
      return shapeSpec(params, table, schema)
    } catch (error) {
      if (error instanceof ShapeParamError) return null
      throw error
    }
  }
}

async function* snapshotRows(spec: ShapeSpec, rows: AsyncIterable<Row> | Iterable<Row>): AsyncIterable<string> {
  for await (const row of rows) {
    if (spec.where === null || spec.where.matches(row)) {
      yield snapshotMessage(spec, toPgText(row[PRIMARY_KEY]) as string, row)
    }
  }
}

/** True for the engine errors that mean "this handle's shape is gone". */
export function isShapeGone(error: unknown): boolean {
  return (
    error instanceof EngineError && (error.code === ErrorCode.UNKNOWN_HANDLE || error.code === ErrorCode.SHAPE_REMOVED)
  )
}
