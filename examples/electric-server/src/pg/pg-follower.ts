import { performance } from 'node:perf_hooks'
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication'
import type { ShapeService } from '../shapes/shape-service.ts'
import { PRIMARY_KEY, toPgText } from '../table/pg-types.ts'
import type { Change } from '../table/transaction.ts'
import { lsnToNumber, numberToLsn } from './lsn.ts'
import { rowOf } from './pg-columns.ts'
import { type PgSource, quoteIdent } from './pg-source.ts'
import { ReplicationTimes } from './replication-times.ts'

/** Replicated transactions appended but not yet durable (and acknowledged) at most. */
const IN_FLIGHT_MAX = 64
/** Reconnection backoff after Postgres went away: doubles from the first to the last. */
const RETRY_FIRST_MS = 100
const RETRY_MAX_MS = 5_000
/** How often the confirmed position is reported unasked, at most (Postgres's wal_receiver_status_interval). */
const STATUS_INTERVAL_MAX_MS = 10_000

/**
 * One replication connection and what it has in flight. A handler of an ended session (one still
 * waiting in the shape service's queue when the connection went) touches only its own session:
 * it neither applies its transaction nor moves the confirmed position of the next one.
 */
interface Session {
  readonly service: LogicalReplicationService
  transaction: OpenTransaction | null
  /** The position of the last keepalive not yet confirmed. */
  keepalive: string | null
  /** Acknowledgements in commit order, each after its transaction is durable; a failure ends the session. */
  acks: Promise<void>
  /** The links of `acks` not yet done, oldest first (each removes itself when done). */
  inFlight: Promise<void>[]
  /** Messages being handled: a commit is handed to the shape service across an await. */
  handling: number
  failure: unknown
  /** The connection has ended: nothing more of this session is applied. */
  closed: boolean
}

interface OpenTransaction {
  readonly xid: number
  /** Its commit time in Postgres, ms since the epoch. */
  readonly commitMs: number
  readonly changes: Map<string, Change[]>
  rows: number
  decodeMs: number
}

/**
 * Follows the publication's changes through a `pgoutput` logical replication slot and hands each
 * committed transaction to the shape service (ShapeService.applyReplicated), one at a time, in
 * commit order. Offsets: a transaction's `tx` is its commit LSN, a change's `op` its position
 * among the transaction's changes to its table.
 *
 * Acknowledgement is manual and only of what is persisted: the slot's confirmed flush position
 * moves to a transaction's end only once applyReplicated resolved, that is once the transaction
 * is durable in every shape's log it belongs to. So Postgres never forgets a change the engine
 * could lose in a crash, and WAL is freed as the stream is applied. After a restart (or a lost
 * connection) streaming resumes from the slot's confirmed position, and what is replayed is
 * skipped by the engine's idempotent append. (pg-logical-replication's automatic and periodic
 * acknowledgements would confirm what was merely received: both are off.)
 *
 * Postgres going away (a restart, a dropped connection) is retried with backoff while clients
 * keep being served from the engine. A slot that was dropped (at run time, or while the server
 * was down) is recreated, and every shape is rotated (removed: clients get 409 and refetch a
 * fresh snapshot), since changes may have been missed in between; the server says so on stderr.
 */
export class PgFollower {
  readonly #source: PgSource
  readonly #shapes: ShapeService
  /** The last transaction end applied and acknowledged (the slot's confirmed flush position). */
  #acked = '0/0'
  /** The replication session streaming now, if any. */
  #session: Session | null = null
  #stopped = false
  #running: Promise<void> = Promise.resolve()
  readonly #onCommitted: (tx: number, commitMs: number) => void
  /** A quarter of the walsender's timeout, at most STATUS_INTERVAL_MAX_MS (#stream). */
  #statusIntervalMs = STATUS_INTERVAL_MAX_MS
  /** Transactions applied since the start (for tests and stats). */
  applied = 0
  reconnects = 0
  readonly times = new ReplicationTimes()

  private constructor(source: PgSource, shapes: ShapeService, onCommitted: (tx: number, commitMs: number) => void) {
    this.#source = source
    this.#shapes = shapes
    this.#onCommitted = onCommitted
  }

  /**
   * Creates the slot if absent and starts streaming from its confirmed position. `onCommitted`
   * hears of every transaction with changes before it is fanned out (the server's fanout timing).
   */
  static async start(
    source: PgSource,
    shapes: ShapeService,
    onCommitted: (tx: number, commitMs: number) => void = () => {},
  ): Promise<PgFollower> {
    const follower = new PgFollower(source, shapes, onCommitted)
    const [timeout] = await source.query<{ ms: number }>(
      "SELECT setting::int AS ms FROM pg_settings WHERE name = 'wal_sender_timeout'",
      [],
    )
    if (timeout !== undefined && timeout.ms > 0)
      follower.#statusIntervalMs = Math.max(50, Math.min(STATUS_INTERVAL_MAX_MS, timeout.ms / 4))
    await follower.#resumeOrRecreateSlot()
    follower.#running = follower.#run()
    return follower
  }

  get acknowledgedLsn(): string {
    return this.#acked
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#session?.service.stop()
    await this.#running
  }

  async #run(): Promise<void> {
    let retryMs = RETRY_FIRST_MS
    let lastReported = ''
    while (!this.#stopped) {
      const started = this.applied
      try {
        await this.#stream()
      } catch (error) {
        if (this.#stopped) break
        // Said once per distinct reason, not at every retry.
        const reason = error instanceof Error ? error.message : String(error)
        if (reason !== lastReported) console.error(`replication: ${reason}; retrying`)
        lastReported = reason
        if (isSlotMissing(error) || isSlotUnreadable(error)) {
          try {
            await this.#resumeOrRecreateSlot()
          } catch {
            // Retried below like any other failure.
          }
        }
      }
      if (this.#stopped) break
      this.reconnects++
      if (this.applied > started) retryMs = RETRY_FIRST_MS
      await new Promise((resolve) => setTimeout(resolve, retryMs))
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
    }
  }

  /** One replication session: resolves or rejects when the connection ends. */
  async #stream(): Promise<void> {
    const service = new LogicalReplicationService(
      { connectionString: this.#source.options.connectionString },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    )
    const session: Session = {
      service,
      transaction: null,
      keepalive: null,
      acks: Promise.resolve(),
      inFlight: [],
      handling: 0,
      failure: null,
      closed: false,
    }
    this.#session = session
    // A transaction that failed: nothing after it may be applied or acknowledged; the session
    // ends and the next one replays from the last acknowledged position.
    const fail = (error: unknown) => {
      session.failure ??= error
      void service.stop()
    }
    service.on('error', (error: Error) => {
      session.failure ??= error
    })
    service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      session.keepalive = lsn
      if (!this.#confirmKeepalive(session) && shouldRespond) void confirm(service, this.#acked)
    })
    service.on('data', async (_lsn: string, message: Pgoutput.Message) => {
      if (session.failure !== null) return
      session.handling++
      try {
        await this.#receive(session, message, fail)
      } catch (error) {
        fail(error)
      } finally {
        session.handling--
      }
      this.#confirmKeepalive(session)
    })
    // While a message is handled (a commit waiting in the shape service's queue behind a long
    // snapshot) the library pauses the stream, so keepalive requests go unread: without a status
    // report of its own, the walsender ends the connection after wal_sender_timeout.
    const status = setInterval(() => void confirm(service, this.#acked).catch(() => {}), this.#statusIntervalMs)
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [this.#source.options.publication] })
    try {
      await service.subscribe(plugin, this.#source.options.slot, this.#acked)
    } finally {
      clearInterval(status)
      await service.stop()
      session.closed = true
      // What was appended is acknowledged only if durable: the next session resumes after it.
      await session.acks.catch((error: unknown) => {
        session.failure ??= error
      })
      if (this.#session === session) this.#session = null
    }
    if (session.failure !== null) throw session.failure
  }

  /**
   * A logical walsender's keepalive carries the position up to which it has sent (or skipped)
   * everything. Once every message received before it is applied, that position is persisted
   * as far as the shapes go: confirming it lets Postgres free WAL of transactions no shape
   * wanted, and lets a walsender that is shutting down finish (it waits until the exact
   * position it sent is confirmed, up to wal_sender_timeout otherwise). True if it confirmed.
   * Applied means: no message being handled (a commit waiting for the shape service counts),
   * none received and queued, no transaction open or in flight, and the session is the current one.
   */
  #confirmKeepalive(session: Session): boolean {
    const keepalive = session.keepalive
    if (
      session !== this.#session ||
      keepalive === null ||
      session.transaction !== null ||
      session.handling > 0 ||
      session.inFlight.length > 0 ||
      !isDrained(session.service)
    )
      return false
    session.keepalive = null
    if (lsnToNumber(keepalive) <= lsnToNumber(this.#acked)) return false
    this.#acked = keepalive
    void confirm(session.service, keepalive)
    return true
  }

  async #receive(session: Session, message: Pgoutput.Message, fail: (error: unknown) => void): Promise<void> {
    switch (message.tag) {
      case 'begin':
        session.transaction = {
          // pgoutput's xids and oids are unsigned 32-bit; the library reads them signed, so from
          // 2^31 on they came negative (a transaction in a snapshot's xip list never matched it).
          xid: message.xid >>> 0,
          commitMs: Number(message.commitTime) / 1000,
          changes: new Map(),
          rows: 0,
          decodeMs: 0,
        }
        return
      case 'relation': {
        const table = canonical(message.schema, message.name)
        const columns = message.columns.map(({ name, typeOid, typeMod }) => ({ name, typeOid: typeOid >>> 0, typeMod }))
        const oid = message.relationOid >>> 0
        // A served table without REPLICA IDENTITY FULL (dropped and created again, or altered):
        // its updates carry no old row from here on, so a row moving out of a where shape would
        // stay in it. Set again, and its shapes rotate (what came meanwhile was judged without).
        const identityLost =
          message.replicaIdentity !== 'full' &&
          this.#source.schema(table) !== undefined &&
          (await this.#source.setFullIdentity(table))
        if (this.#source.relationChanged(table, oid, columns) || identityLost) await this.#shapes.rotateTable(table)
        this.#source.adoptRelation(table, oid, columns)
        return
      }
      case 'insert':
      case 'update':
      case 'delete':
        this.#change(session, message)
        return
      case 'truncate':
        for (const relation of message.relations)
          await this.#shapes.rotateTable(canonical(relation.schema, relation.name))
        return
      case 'commit': {
        const transaction = session.transaction
        session.transaction = null
        if (transaction === null || message.commitLsn === null || message.commitEndLsn === null) return
        const tx = lsnToNumber(message.commitLsn)
        const end = message.commitEndLsn
        let durable: Promise<number> = Promise.resolve(0)
        let planMs = 0
        if (transaction.changes.size > 0) {
          this.#onCommitted(tx, transaction.commitMs)
          const applied = await this.#shapes.applyReplicated({
            tx,
            xid: transaction.xid,
            changes: transaction.changes,
            // Not once a transaction before it failed, or the session ended: a later one durable
            // in a shape without an earlier one would make the replay skip the earlier one there.
            abandoned: () => session.failure !== null || session.closed,
          })
          if (applied === null) return
          ;({ planMs, durable } = applied)
        }
        // Acknowledged in commit order, each once it is durable; the next transactions are
        // planned and appended meanwhile (the engine groups their commits).
        session.acks = session.acks.then(async () => {
          const appendMs = await durable
          const { decodeMs, rows, commitMs } = transaction
          if (rows > 0) this.times.record({ lagMs: Date.now() - commitMs, decodeMs, planMs, appendMs, rows })
          this.#source.committed(tx)
          this.#shapes.replicatedDurable(tx)
          this.applied++
          session.inFlight.shift()
          if (this.#session !== session) return
          this.#acked = end
          await confirm(session.service, end)
          // A keepalive that came while this was in flight may be confirmable now.
          this.#confirmKeepalive(session)
        })
        session.acks.catch(fail)
        session.inFlight.push(session.acks)
        // A pipeline this deep waits for its oldest transaction (bounded memory and lag), not
        // for all of them: waiting for the newest emptied the whole pipeline each time it filled.
        const oldest = session.inFlight[0]
        if (session.inFlight.length >= IN_FLIGHT_MAX && oldest !== undefined) await oldest.catch(() => {})
        return
      }
      default:
        return
    }
  }

  #change(session: Session, message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete): void {
    const transaction = session.transaction
    if (transaction === null) return
    const start = performance.now()
    const table = canonical(message.relation.schema, message.relation.name)
    const schema = this.#source.schema(table)
    if (schema === undefined) return // not a served table
    // REPLICA IDENTITY FULL gives the whole old row; without it, only the key (or nothing).
    const oldRow = message.tag === 'insert' ? null : (message.old ?? message.key)
    const before = oldRow === null ? null : rowOf(schema, oldRow)
    // An unchanged TOASTed value is left out of an update's new row: it is the old one.
    const after = message.tag === 'delete' ? null : { ...before, ...rowOf(schema, message.new) }
    const id = toPgText((after ?? before)?.[PRIMARY_KEY] ?? null)
    if (id === null) return
    let changes = transaction.changes.get(table)
    if (changes === undefined) {
      changes = []
      transaction.changes.set(table, changes)
    }
    const oldId = before === null ? null : toPgText(before[PRIMARY_KEY] ?? null)
    if (message.tag === 'update' && oldId !== null && oldId !== id) {
      // The key changed: to a client that is one row gone and another come, as Electric sends it
      // (an update under the new key would be a row it never had, and the old one would stay).
      changes.push({ op: 'delete', id: oldId, before, after: null })
      changes.push({ op: 'insert', id, before: null, after })
    } else {
      changes.push({ op: message.tag, id, before, after })
    }
    transaction.rows++
    transaction.decodeMs += performance.now() - start
  }

  /**
   * Resumes from the slot's confirmed position, or creates the slot. A slot created while shapes
   * exist (it was dropped, at run time or while the server was down) cannot tell what they
   * missed: every shape is rotated, and the server says so. So is a slot Postgres invalidated
   * (WAL it still needed was removed, past max_slot_wal_keep_size): it can never be read again,
   * and is dropped first.
   */
  async #resumeOrRecreateSlot(): Promise<void> {
    const { slot } = this.#source.options
    const [found] = await this.#source.query<{ lsn: string | null; lost: boolean }>(
      "SELECT confirmed_flush_lsn::text AS lsn, wal_status = 'lost' AS lost FROM pg_replication_slots WHERE slot_name = $1",
      [slot],
    )
    let why = 'was missing'
    if (found?.lost === true) {
      await this.#source.query('SELECT pg_drop_replication_slot($1)', [slot])
      why = 'was invalidated by Postgres (it removed WAL the slot needed: max_slot_wal_keep_size)'
    } else if (found !== undefined) {
      this.#acked = found.lsn ?? '0/0'
      return
    }
    const created = await this.#source.query<{ lsn: string }>(
      "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
      [slot],
    )
    this.#acked = created[0]?.lsn ?? '0/0'
    const rotated = await this.#shapes.rotateAll()
    if (rotated > 0) {
      console.error(
        `replication slot "${slot}" ${why}: created it and rotated all ${rotated} shapes (their clients get 409 and refetch), since changes may have been missed`,
      )
    }
  }
}

/**
 * Reports `lsn` as written and flushed. pg-logical-replication 2.5.0's acknowledge reports one
 * byte more than it is given; the walsender's shutdown waits for the exact position it sent.
 */
async function confirm(service: LogicalReplicationService, lsn: string): Promise<void> {
  const position = lsnToNumber(lsn)
  if (position > 0) await service.acknowledge(numberToLsn(position - 1))
}

/**
 * True when pg-logical-replication 2.5.0 has no received message left to hand to the data
 * handler (the one being handled, if any, is the last). It keeps that queue private: if a later
 * version renames it, this answers false, and keepalives are then only answered, never used to
 * move the confirmed position (safe; shutdowns of Postgres then wait for wal_sender_timeout).
 */
function isDrained(service: LogicalReplicationService): boolean {
  const queue = (service as unknown as { _messageQueue?: unknown })._messageQueue
  return Array.isArray(queue) && queue.length === 0
}

/** `"schema"."name"`: how the shape service spells a table. */
function canonical(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`
}

function isSlotMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '42704' && /replication slot/.test(String(error))
}

/** Postgres 15's answer to reading an invalidated slot: `cannot read from logical replication slot`. */
function isSlotUnreadable(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55000' && /replication slot/.test(String(error))
}
