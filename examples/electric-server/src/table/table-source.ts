import type { PgSnapshotInput } from '@shapestore/engine'
import type { Row, TableSchema } from './pg-types.ts'
import type { PendingFanout } from './table-store.ts'

/**
 * Where the server's tables live: the embedded TableStore (the default, its own write path) or
 * Postgres followed through logical replication (`--pg`, src/pg/). The shape service needs
 * only this of either.
 */
export interface TableSource {
  /** The last source transaction committed (`tx` of offsets `tx_op`; a commit LSN from Postgres). */
  readonly lastTx: number
  /** The table's columns, `id` first; undefined for a table the source does not have. */
  schema(table: string): TableSchema | undefined
  /** Looks the table up again if the source may have it by now (Postgres: a table created since). */
  refreshSchema(table: string): Promise<void>
  /** A new shape's rows, read consistently, with the pg snapshot they were read under (Postgres). */
  snapshot(table: string): Promise<TableSnapshot>
  /** A committed transaction whose fanout may not have finished (the embedded store only). */
  pending(): PendingFanout | undefined
  clearPending(): Promise<void>
}

export interface TableSnapshot {
  readonly rows: AsyncIterable<Row> | Iterable<Row>
  /** `pg_current_snapshot()` of the read (Postgres); null from the embedded store. */
  readonly pgSnapshot: PgSnapshotInput | null
}
