import type { PgSnapshotInput } from '@shapestore/engine'
import pg from 'pg'
import type { TableSchema } from '../table/pg-types.ts'
import type { TableSnapshot, TableSource } from '../table/table-source.ts'
import type { PendingFanout } from '../table/table-store.ts'
import { type PgColumn, rowOf, schemaOf } from './pg-columns.ts'
import { ServedSchemas, type TableFingerprints } from './served-schemas.ts'

/** Where the server follows Postgres from (`--pg`, `--publication`, `--slot`). */
export interface PgSourceOptions {
  /** `postgres://user@host:port/db` */
  readonly connectionString: string
  /** The publication whose tables are served; created (FOR ALL TABLES) if absent. */
  readonly publication: string
  /** The logical replication slot followed (pgoutput); created if absent. */
  readonly slot: string
}

/**
 * Postgres as the server's table source: table schemas from its catalog (the tables of one
 * publication), a new shape's rows from a `REPEATABLE READ READ ONLY` transaction together with
 * its `pg_current_snapshot()`, which the shape service stores with setPgSnapshot so that the
 * replication follower (pg-follower.ts) appends to that shape exactly the transactions the
 * snapshot did not see. Every served table is set to `REPLICA IDENTITY FULL`, as Electric does:
 * updates and deletes then carry the old row, which a where clause needs to see a row move out.
 */
export class PgSource implements TableSource {
  readonly options: PgSourceOptions
  readonly #pool: pg.Pool
  readonly #schemas = new Map<string, TableSchema>()
  /** The served tables' relation oids: a table dropped and created again gets a new one. */
  readonly #oids = new Map<string, number>()
  /** Each served table's columns' Postgres types and modifiers, as typesOf gives them. */
  readonly #pgTypes = new Map<string, string>()
  readonly #served: ServedSchemas
  #lastTx = 0

  private constructor(options: PgSourceOptions, pool: pg.Pool, servedFile: string) {
    this.options = options
    this.#pool = pool
    this.#served = new ServedSchemas(servedFile)
  }

  /** `servedFile`: where the served tables' schemas are kept between runs (ServedSchemas). */
  static async open(options: PgSourceOptions, servedFile: string): Promise<PgSource> {
    const pool = new pg.Pool({ connectionString: options.connectionString, max: 4 })
    // An idle client's error (Postgres restarted) must not crash the process: the pool drops it.
    pool.on('error', () => {})
    const source = new PgSource(options, pool, servedFile)
    try {
      const found = await pool.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [options.publication])
      if (found.rowCount === 0) await pool.query(`CREATE PUBLICATION ${quoteIdent(options.publication)} FOR ALL TABLES`)
      else await checkPublication(pool, options.publication)
      await source.#loadSchemas(null)
    } catch (error) {
      await pool.end()
      throw error
    }
    return source
  }

  get lastTx(): number {
    return this.#lastTx
  }

  /** Called by the follower once a replicated transaction is in every shape's log. */
  committed(tx: number): void {
    if (tx > this.#lastTx) this.#lastTx = tx
  }

  schema(table: string): TableSchema | undefined {
    return this.#schemas.get(table)
  }

  async refreshSchema(table: string): Promise<void> {
    await this.#loadSchemas(table)
    this.saveServed()
  }

  /**
   * The served tables altered, or dropped and created again, since the last run saved what it
   * served (none at a first start): their shapes must rotate, and then saveServed().
   */
  changedSinceLastRun(): string[] {
    return this.#served.changed(this.#fingerprints())
  }

  /** Saves what is served now as what the shapes were made with. */
  saveServed(): void {
    this.#served.save(this.#fingerprints())
  }

  /**
   * Whether a replicated relation message describes a served table otherwise than the shapes
   * were made with (other columns or types, or another relation under its name): then its shapes
   * must rotate, as Electric's do, before adoptRelation. Changes nothing itself, so a rotation
   * that fails is tried again when the replay brings the message again.
   */
  relationChanged(table: string, oid: number, columns: readonly PgColumn[]): boolean {
    // A table no request has named yet (created while the server runs): not taken from here, so
    // the first request loads it through refreshSchema, which sets REPLICA IDENTITY FULL (without
    // it an update carries no old row, and a row moving out of a where shape would stay). Its
    // changes until then concern no shape.
    if (!this.#schemas.has(table)) return false
    return this.#fingerprint(table) !== fingerprint(oid, relationSchema(table, columns), typesOf(columns))
  }

  /**
   * Sets REPLICA IDENTITY FULL on a served table whose relation message says otherwise; true if
   * it had to (false: the table has it by now, the message came from before, in a replay). Waits
   * at most FULL_IDENTITY_LOCK_MS for the table's lock (replication waits meanwhile); a table
   * gone meanwhile (dropped again) is left, its next relation message asks again. Any other
   * failure ends the replication session, which retries.
   */
  async setFullIdentity(table: string): Promise<boolean> {
    const client = await this.#pool.connect()
    try {
      const identity = await client.query<{ r: string }>(
        'SELECT relreplident::text AS r FROM pg_class WHERE oid = to_regclass($1)',
        [table],
      )
      const current = identity.rows[0]?.r
      if (current === undefined || current === 'f') return false
      await client.query('BEGIN')
      await client.query(`SET LOCAL lock_timeout = ${FULL_IDENTITY_LOCK_MS}`)
      await client.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`)
      await client.query('COMMIT')
      return true
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      if ((error as { code?: string }).code === '42P01') return false // dropped again meanwhile
      throw error
    } finally {
      client.release()
    }
  }

  /** Serves the table as the relation message describes it (not at all if its types are not served). */
  adoptRelation(table: string, oid: number, columns: readonly PgColumn[]): void {
    if (!this.#schemas.has(table)) return
    const schema = relationSchema(table, columns)
    if (this.#fingerprint(table) === fingerprint(oid, schema, typesOf(columns))) return
    if (schema === null) this.#schemas.delete(table)
    else {
      this.#schemas.set(table, schema)
      this.#oids.set(table, oid)
      this.#pgTypes.set(table, typesOf(columns))
    }
    this.saveServed()
  }

  async snapshot(table: string): Promise<TableSnapshot> {
    const schema = this.#schemas.get(table)
    if (schema === undefined) throw new Error(`${table} is not a served table`)
    const client = await this.#pool.connect()
    // Checked out, a client's connection error (its backend terminated between two queries) has
    // no listener from the pool and would crash the process; the next query fails instead.
    const ignore = () => {}
    client.on('error', ignore)
    let snapshot: pg.QueryResult<{ snapshot: string }>
    let result: pg.QueryResult<Record<string, unknown>>
    try {
      // The first statement fixes the transaction's snapshot: pg_current_snapshot() is the one
      // the SELECT reads under.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      snapshot = await client.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot')
      result = await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`)
      // Ended before the shape is written: a COMMIT that failed once its snapshot was in the
      // engine would fail the creation of a complete shape, which then missed every fanout until
      // a request met it again. (A read-only transaction's rows hold once they are read.)
      await client.query('COMMIT')
    } catch (error) {
      client.release(error as Error)
      throw error
    } finally {
      client.off('error', ignore)
    }
    client.release()
    return {
      rows: result.rows.map((raw) => rowOf(schema, raw)),
      pgSnapshot: parseSnapshot(snapshot.rows[0]?.snapshot ?? ''),
    }
  }

  /** A query on the pool (the follower's slot bookkeeping). */
  async query<T extends Record<string, unknown>>(text: string, values: unknown[]): Promise<T[]> {
    return (await this.#pool.query<T>(text, values)).rows
  }

  pending(): PendingFanout | undefined {
    return undefined
  }

  async clearPending(): Promise<void> {}

  async close(): Promise<void> {
    await this.#pool.end()
  }

  #fingerprint(table: string): string | undefined {
    const schema = this.#schemas.get(table)
    return schema === undefined
      ? undefined
      : fingerprint(this.#oids.get(table) ?? 0, schema, this.#pgTypes.get(table) ?? '')
  }

  #fingerprints(): TableFingerprints {
    return new Map([...this.#schemas.keys()].map((table) => [table, this.#fingerprint(table) as string]))
  }

  /** The publication's tables (or only `only`): schemas, and REPLICA IDENTITY FULL where it is not. */
  async #loadSchemas(only: string | null): Promise<void> {
    const result = await this.#pool.query<{
      table: string
      relation: number
      column: string
      oid: number
      typmod: number
      identity: string
    }>(
      // The canonical name, `"schema"."name"`, as the shape service spells tables.
      `SELECT '"' || replace(n.nspname, '"', '""') || '"."' || replace(c.relname, '"', '""') || '"' AS "table",
              c.oid::int AS relation, a.attname AS "column", a.atttypid::int AS oid, a.atttypmod AS typmod,
              c.relreplident::text AS identity
         FROM pg_publication_tables p
         JOIN pg_namespace n ON n.nspname = p.schemaname
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE p.pubname = $1 AND a.attgenerated = ''
        ORDER BY 1, a.attnum`,
      [this.options.publication],
    )
    const tables = new Map<string, { relation: number; columns: PgColumn[]; identity: string }>()
    for (const row of result.rows) {
      if (only !== null && row.table !== only) continue
      let table = tables.get(row.table)
      if (table === undefined) {
        // Oids as the relation messages give them, unsigned (`::int` of one past 2^31 is negative).
        table = { relation: row.relation >>> 0, columns: [], identity: row.identity }
        tables.set(row.table, table)
      }
      table.columns.push({ name: row.column, typeOid: row.oid >>> 0, typeMod: row.typmod })
    }
    for (const [table, { relation, columns, identity }] of tables) {
      let schema: TableSchema
      try {
        schema = schemaOf(table, columns)
      } catch (error) {
        console.warn(`not served: ${(error as Error).message}`)
        continue
      }
      if (identity !== 'f') await this.#pool.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`)
      this.#schemas.set(table, schema)
      this.#oids.set(table, relation)
      this.#pgTypes.set(table, typesOf(columns))
    }
  }
}

/**
 * Refuses a publication the shapes cannot follow: one that leaves out inserts, updates, deletes
 * or truncates (a TRUNCATE never replicated left its rows in every shape), or filters a table's
 * rows (a snapshot has rows that replication then never updates). Says how to fix it.
 */
async function checkPublication(pool: pg.Pool, publication: string): Promise<void> {
  const { rows } = await pool.query<Record<'pubinsert' | 'pubupdate' | 'pubdelete' | 'pubtruncate', boolean>>(
    'SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
    [publication],
  )
  const flags = rows[0]
  const missing =
    flags === undefined ? [] : (['insert', 'update', 'delete', 'truncate'] as const).filter((op) => !flags[`pub${op}`])
  if (missing.length > 0) {
    throw new Error(
      `publication ${publication} does not publish ${missing.join(', ')}: the shapes would miss them. ` +
        `ALTER PUBLICATION ${quoteIdent(publication)} SET (publish = 'insert, update, delete, truncate')`,
    )
  }
  // Row filters came with PostgreSQL 15 (pg_publication_tables.rowfilter).
  const version = await pool.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")
  if ((version.rows[0]?.v ?? 0) < 150_000) return
  const filtered = await pool.query<{ table: string }>(
    "SELECT schemaname || '.' || tablename AS table FROM pg_publication_tables WHERE pubname = $1 AND rowfilter IS NOT NULL",
    [publication],
  )
  if (filtered.rows.length > 0) {
    throw new Error(
      `publication ${publication} filters the rows of ${filtered.rows.map((row) => row.table).join(', ')}: ` +
        'a shape would hold rows replication never updates. Publish those tables without a WHERE',
    )
  }
}

/** A relation message's schema; null when a column's type is not served. */
function relationSchema(table: string, columns: readonly PgColumn[]): TableSchema | null {
  try {
    return schemaOf(table, columns)
  } catch {
    return null
  }
}

/**
 * A table as its shapes were made with: its relation (a table dropped and created again under its
 * name gets a new oid), its columns as served, and their Postgres types and modifiers (several
 * map to one served type: text, varchar, char(n) are all text; a change among them changes the
 * values, so the shapes rotate, as Electric's do).
 */
function fingerprint(oid: number, schema: TableSchema | null, types: string): string {
  return JSON.stringify([oid, schema, types])
}

/** The columns' Postgres type oids and modifiers. */
function typesOf(columns: readonly PgColumn[]): string {
  return columns.map(({ typeOid, typeMod }) => `${typeOid}/${typeMod}`).join(',')
}

/** How long setFullIdentity waits for a served table's lock (an application transaction holding it). */
const FULL_IDENTITY_LOCK_MS = 5_000

/** `xmin:xmax:xip,…` as pg_current_snapshot() prints it. */
export function parseSnapshot(text: string): PgSnapshotInput {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(text)
  if (match === null) throw new Error(`not a pg snapshot: ${JSON.stringify(text)}`)
  const xips = match[3] as string
  return {
    xmin: match[1] as string,
    xmax: match[2] as string,
    xipList: xips === '' ? [] : xips.split(','),
    filterTxns: true,
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
