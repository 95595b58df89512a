/**
 * The byte layout of everything the engine stores as a log or snapshot value, as named
 * constants: the encoder (transaction-encoder.ts, snapshot-part.ts) and every decoder
 * (log-record.ts, log-json.ts, the writers) read their offsets from here. Every integer is
 * big-endian; u64 values are two u32 halves (exact up to 2^53 - 1).
 *
 * Every stored value begins with a seal: [u32 CRC-32 of the value's key and of the rest of the
 * value] (value-seal.ts), written by the writer as it stores the value and checked by every read.
 *
 * A log record — the rows one transaction appends to one shape, framed in one LMDB value
 * (one record per (shape, transaction): docs/design/log-layout-notes.md, layout A2). The main
 * thread encodes it once, while it validates the transaction, leaving the seal for the writer;
 * the writer stores those bytes as they are.
 *
 *   [u32 seal][u32 row count] then per row:
 *   [u64 tx][u64 op][u8 op type][u32 key bytes][key][u32 json bytes][json]
 *   then the chain (below)
 *
 * A shared record (layout A3): one transaction's record stored once for many shapes of a
 * partition, in the `txs` database, as [u32 reference count][log record] (the record's seal
 * covers the txs key and the record, not the count, which changes); each shape's log gets a
 * reference instead of its own copy:
 *
 *   [u32 seal][u32 SHARED_RECORD_MARK][u64 txs id][chain]
 *
 * No real record has the mark where a reference has it: a record's row count is at most
 * TRANSACTION_ITEMS_MAX.
 *
 * The chain (data format 3 on) names the offset of the shape's log entry before this one (its
 * key; 0_0 for the shape's first), written by the writer as it stores the value, under the
 * seal. A read of a range of a shape's log checks that every entry names the one it read before,
 * and the first one an offset at or before where the read starts, so an entry missing in the
 * middle of a log is damage, not a shorter answer. It has two forms, told apart by its last byte:
 *
 *   short: [u32 entry's tx - previous tx][u32 previous op][u8 CHAIN_SHORT]  when both fit
 *   long:  [u64 previous tx][u64 previous op][u8 CHAIN_LONG]
 *
 * An entry is encoded with room for the long form; the writer stores it CHAIN_LONG_BYTES -
 * CHAIN_SHORT_BYTES shorter when the short one fits (every entry but a shape's first, unless
 * 2^32 transactions lie between two of its entries). A shared record's own chain is unused
 * (zero): each reference carries the chain of its shape. Both marks are bytes no UTF-8 text
 * holds, so an entry of data format 2, which has no chain, is told apart: a record ends with
 * its last row's JSON (or that row's zero JSON length), and a reference is 16 bytes.
 *
 * A snapshot part — the snapshot rows committed together, so readers can tail a snapshot while
 * it is written:
 *
 *   [u32 seal][u8 flags] then per row: [u32 json bytes][json]
 *
 * A shape's metadata record, in the `meta` database under its shape id (shape-meta.ts):
 *
 *   [u8 META_VALUE_MARK][u32 seal][u8 META_FLAGS][u64 last tx][u64 last op (0 for inf)]
 *   [u64 last snapshot chunk (0 for none)][u64 open chunk bytes]
 *   then, with META_HAS_PG_SNAPSHOT: [u64 xmin][u64 xmax][u32 xip count][u64 xip]...
 *
 * Its seal covers the shape id (a big-endian u32) and every byte after the seal. The mark is a
 * byte msgpack never writes, so a record from before data format 3 (a msgpack map, no seal)
 * never starts with it and still reads.
 */

/** Every stored value's seal (value-seal.ts), at its start. */
export const SEAL_AT = 0
export const SEAL_BYTES = 4

/** A log record's row count, after its seal. */
export const RECORD_COUNT_AT = SEAL_BYTES
export const RECORD_HEADER_BYTES = SEAL_BYTES + 4

/** Offsets inside one row, from the row's start. */
export const ROW_TX_AT = 0
export const ROW_OP_AT = 8
export const ROW_OP_TYPE_AT = 16
export const ROW_KEY_BYTES_AT = 17
/** The fixed part before the key: tx, op, op type, key length. */
export const ROW_HEADER_BYTES = 21
/** The u32 length in front of a row's JSON (after its key). */
export const ROW_JSON_BYTES_BYTES = 4
/** A row's bytes besides its key and JSON. */
export const ROW_OVERHEAD_BYTES = ROW_HEADER_BYTES + ROW_JSON_BYTES_BYTES

/** A log entry's chain, at its end, in its two forms (see above), each ending with its mark. */
export const CHAIN_LONG_BYTES = 17
export const CHAIN_LONG = 0xc0
export const CHAIN_SHORT_BYTES = 9
export const CHAIN_SHORT = 0xc1

/** The op type byte of a row. */
export const OP_TYPES = { insert: 1, update: 2, delete: 3 } as const
export type OpType = keyof typeof OP_TYPES

/** A shared record's reference count, in front of its log record. */
export const SHARED_COUNT_BYTES = 4
export const SHARED_RECORD_MARK = 0xffff_ffff
/** Where the mark and the txs key are in a reference, and the reference's whole size. */
export const SHARED_REF_MARK_AT = SEAL_BYTES
export const SHARED_REF_KEY_AT = SEAL_BYTES + 4
/** A reference without its chain: data format 2's whole reference. */
export const UNCHAINED_SHARED_REF_BYTES = SEAL_BYTES + 12

/** A snapshot part's flags byte (after its seal), and the flag saying the chunk ends with this part. */
export const PART_FLAGS_AT = SEAL_BYTES
export const PART_HEADER_BYTES = SEAL_BYTES + 1
export const LAST_PART_OF_CHUNK = 1
/** The u32 length in front of each snapshot row's JSON. */
export const PART_ROW_BYTES_BYTES = 4

/** A shape metadata record's first byte (0xc1: unused by msgpack), then its seal. */
export const META_VALUE_MARK = 0xc1
export const META_SEAL_AT = 1
export const META_FLAGS_AT = META_SEAL_AT + SEAL_BYTES
export const META_TX_AT = META_FLAGS_AT + 1
export const META_OP_AT = META_TX_AT + 8
export const META_SNAPSHOT_CHUNK_AT = META_OP_AT + 8
export const META_OPEN_CHUNK_BYTES_AT = META_SNAPSHOT_CHUNK_AT + 8
/** A record's size without a pg snapshot; with one, META_PG_SNAPSHOT_BYTES + 8 per xip more. */
export const META_BYTES = META_OPEN_CHUNK_BYTES_AT + 8
export const META_PG_SNAPSHOT_BYTES = 8 + 8 + 4
/** META_FLAGS bits. */
export const META_SNAPSHOT_STARTED = 1
export const META_HAS_SNAPSHOT_CHUNK = 2
export const META_OP_IS_INF = 4
export const META_HAS_PG_SNAPSHOT = 8
export const META_FILTER_TXNS = 16
