/**
 * Every bound the engine enforces, with its unit. Inputs are checked against these where they
 * enter (the facade), so a bad call is rejected with a coded error before anything is written.
 */

/** Largest tx or op part of a LogOffset: offsets are kept as exact JS numbers. */
export const OFFSET_PART_MAX = Number.MAX_SAFE_INTEGER

/** Bytes of one log item's JSON (UTF-8). */
export const ITEM_JSON_BYTES_MAX = 16 * 1024 * 1024
/** Bytes of one log item's key (UTF-8). */
export const ITEM_KEY_BYTES_MAX = 4 * 1024
/** Items in one transaction for one shape. */
export const TRANSACTION_ITEMS_MAX = 100_000
/** Bytes of one transaction's items for one shape (JSON + keys). */
export const TRANSACTION_BYTES_MAX = 64 * 1024 * 1024
/**
 * From this many shapes of one partition receiving the same transaction (the same items array
 * in one appendToLogs call), its rows are stored once and each shape gets a 16-byte reference.
 */
export const SHARED_RECORD_SHAPES_MIN = 4
/** Shapes in one appendToLogs call. */
export const FANOUT_SHAPES_MAX = 100_000

/** Bytes of one snapshot row's JSON (UTF-8). */
export const SNAPSHOT_ROW_BYTES_MAX = ITEM_JSON_BYTES_MAX
/** Snapshot rows are committed in parts of about this many bytes so readers can tail them. */
export const SNAPSHOT_PART_BYTES = 1024 * 1024
/**
 * Encoded snapshot parts not yet committed, across all snapshots being written: more waits.
 * Enough to keep both writer threads' commits full; the transfer-buffer pools (32 MiB per
 * writer, parts in buffers of their own rounded up to 128 KiB) cover it, so a burst of snapshots
 * reuses buffers instead of allocating fresh ones.
 */
export const SNAPSHOT_BYTES_IN_FLIGHT = 32 * 1024 * 1024

/** Bytes of a table name (schema-qualified). Postgres identifiers are at most 63 bytes each. */
export const TABLE_NAME_BYTES_MAX = 128
/** Bytes of a where clause. */
export const WHERE_BYTES_MAX = 16 * 1024
/** Columns selected by one shape (Postgres allows 1,600 per table). */
export const COLUMNS_MAX = 1_600
/** Bytes of one column name. */
export const COLUMN_NAME_BYTES_MAX = 63
/** Entries in a pg snapshot's xip list. */
export const XIP_LIST_MAX = 100_000

/** Shape ids are u32 in storage keys; the catalog never reuses one. */
export const SHAPE_ID_MAX = 0xffff_ffff

/**
 * Shapes whose read-path keys a runtime's table keeps in memory without a writer thread's slot
 * (the inline runtime's table: every shape; the worker runtime's: shapes only read), the
 * runtimes' `readPathKeys` option. Past it, the oldest such entry goes: its next read is a
 * miss, served from LMDB. Default 2^20, the architecture's horizon of shapes: about 230 MB of
 * keys (`pnpm bench scale`); the maximum is there to catch typos (about 15 GB).
 */
export const READ_PATH_KEYS_DEFAULT = 1_048_576
export const READ_PATH_KEYS_MIN = 1
export const READ_PATH_KEYS_MAX = 67_108_864

/** Log chunks close once their JSON bytes reach this (Electric's default). */
export const CHUNK_BYTES_THRESHOLD_DEFAULT = 10 * 1024 * 1024
export const CHUNK_BYTES_THRESHOLD_MIN = 1
export const CHUNK_BYTES_THRESHOLD_MAX = 1024 * 1024 * 1024

export const PARTITIONS_DEFAULT = 8
export const PARTITIONS_MAX = 256

/** LMDB map size per partition: virtual address space; the file grows only as used. */
export const PARTITION_MAP_BYTES_DEFAULT = 64 * 1024 * 1024 * 1024
export const CATALOG_MAP_BYTES_DEFAULT = 16 * 1024 * 1024 * 1024

/** A group commit takes at most this many log items (then commits at once). */
export const GROUP_COMMIT_ITEMS_MAX = 5_000

/**
 * A group commit of fewer items, with no commit of its partition under way, commits
 * synchronously on the writer's thread; bigger ones go to lmdb-js' write thread (see
 * PartitionWriter).
 */
export const SYNC_COMMIT_ITEMS_MAX = 256

/** How long a reader of an unfinished snapshot waits for the next rows before giving up. */
export const SNAPSHOT_STALL_TIMEOUT_MS_DEFAULT = 60_000

/** waitForOffset's timeout when the caller gives none (Electric's long-poll window). */
export const WAIT_TIMEOUT_MS_DEFAULT = 20_000
export const WAIT_TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000

/** Bytes of one getLogJson answer (one Buffer). */
export const LOG_JSON_BYTES_MAX = 2 * 1024 ** 3
/**
 * Reads expected to be at least this big (a snapshot chunk or a closed log chunk: about
 * chunkBytesThreshold) go to the worker runtime's reader pool; smaller ones (the live tail) run
 * inline. Measured (measure-log-read.ts): from 256 KiB on, the pool costs the main thread less
 * CPU than reading inline; below, one cross-thread round trip costs more than the read.
 */
export const POOL_READ_BYTES_MIN = 256 * 1024

/**
 * A commit that fails while the disk holding the directory has less free space than this is
 * reported as STORAGE_FULL (see storage-full.ts: LMDB's own error does not say so reliably).
 */
export const DISK_FULL_FREE_BYTES = 64 * 1024 * 1024
