import type { EncodedTransaction } from './log-store/transaction-encoder.ts'
import type { PgSnapshot } from './pg-snapshot.ts'
import type { ShapeRef } from './shape-ref.ts'

/**
 * Every operation a partition's writer performs, declared once: operation name → its one
 * argument (every operation resolves to nothing). The runtime interface (`Writers`), the
 * worker protocol's request messages and the writer's dispatch (PartitionWriters.run) are all
 * derived from this map, so adding an operation means: a line here, its implementation in
 * PartitionWriter, and the facade call that issues it.
 *
 * Every argument is plain data that survives a structured clone: it names its partition (the
 * writer that owns it is found from that), and bulk data travels as `bytes` — already the
 * bytes LMDB will store, encoded on the main thread (record-layout.ts) — which a worker
 * runtime transfers instead of cloning.
 */
export interface WriterOpArgs {
  /** Transactions into shapes of one partition (each record stored once for its shapes). */
  append: AppendArgs
  setPgSnapshot: { readonly ref: ShapeRef; readonly pgSnapshot: PgSnapshot }
  markSnapshotStarted: { readonly ref: ShapeRef }
  /** Begins a (new) snapshot: drops the parts an interrupted attempt left behind. */
  startSnapshot: { readonly ref: ShapeRef }
  writeSnapshotPart: SnapshotPartArgs
  /** The writer lets go of the shape's state; its read-path keys stay published. */
  hibernate: { readonly ref: ShapeRef }
  /** Deletes the shape's log, snapshot and metadata from its partition. */
  drop: { readonly ref: ShapeRef }
}

export type WriterOpName = keyof WriterOpArgs

/**
 * Transactions into shapes of one partition, in order. A fan-out of distinct transactions (one
 * source transaction whose changes differ per shape) is one operation per partition, not one
 * per shape: each operation costs a promise, a result and (on the worker runtime) a cloned
 * request, which cost more than a one-row transaction's own work.
 */
export interface AppendArgs {
  readonly partition: number
  readonly transactions: readonly TransactionAppend[]
}

/** One transaction into shapes of the operation's partition: its record, stored once for them all. */
export interface TransactionAppend extends EncodedTransaction {
  readonly refs: readonly ShapeRef[]
  /**
   * Whether `bytes` belong to this transaction alone (no other append holds them): the writer
   * then chains and seals the record in place and stores it as it is, instead of a copy.
   */
  readonly exclusive: boolean
}

/**
 * `txn` into `refs`. Built field by field rather than as `{ ...txn, refs, … }`: on Node 20's V8
 * a spread followed by a property the spread object lacks takes a runtime slow path on every
 * call (~4 µs here; also in a plain loop, so not this code's doing), which made a fan-out of one
 * row to each of 50 shapes spend more on building its arguments than on LMDB (2026-12-07: 45k →
 * 74k rows/s inline on that load). So nothing on the write path spreads.
 */
export function transactionAppend(
  txn: EncodedTransaction,
  refs: readonly ShapeRef[],
  exclusive: boolean,
): TransactionAppend {
  return {
    bytes: txn.bytes,
    rowCount: txn.rowCount,
    firstTx: txn.firstTx,
    firstOp: txn.firstOp,
    lastTx: txn.lastTx,
    lastOp: txn.lastOp,
    jsonBytes: txn.jsonBytes,
    refs,
    exclusive,
  }
}

/** A snapshot part as the facade cuts and encodes it (snapshot-chunker.ts). */
export interface EncodedSnapshotPart {
  readonly chunk: number
  readonly part: number
  readonly rowCount: number
  readonly lastOfChunk: boolean
  /** Set on the final write of a snapshot: the number n of its last chunk `0_n`. */
  readonly lastSnapshotChunk: number | null
  /** The part as stored (record-layout.ts). */
  readonly bytes: Uint8Array
}

export interface SnapshotPartArgs extends EncodedSnapshotPart {
  readonly ref: ShapeRef
}

/** `part` for the shape `ref`, field by field (transactionAppend says why). */
export function snapshotPartArgs(part: EncodedSnapshotPart, ref: ShapeRef): SnapshotPartArgs {
  return {
    chunk: part.chunk,
    part: part.part,
    rowCount: part.rowCount,
    lastOfChunk: part.lastOfChunk,
    lastSnapshotChunk: part.lastSnapshotChunk,
    bytes: part.bytes,
    ref,
  }
}

/** The operations as methods: what a runtime's writers and a PartitionWriter both offer. */
export type WriterOps = { readonly [K in WriterOpName]: (args: WriterOpArgs[K]) => Promise<void> }

/** Runs one operation wherever its partition's writer is. */
export type WriterOpDispatch = <K extends WriterOpName>(kind: K, args: WriterOpArgs[K]) => Promise<void>

/** The names, checked against the map both ways (a missing or an extra name does not compile). */
export const WRITER_OP_NAMES = Object.keys({
  append: 0,
  setPgSnapshot: 0,
  markSnapshotStarted: 0,
  startSnapshot: 0,
  writeSnapshotPart: 0,
  hibernate: 0,
  drop: 0,
} satisfies Record<WriterOpName, 0>) as readonly WriterOpName[]

/** The operations as methods that all go through `dispatch`. */
export function writerOpsVia(dispatch: WriterOpDispatch): WriterOps {
  const ops: Partial<Record<WriterOpName, (args: never) => Promise<void>>> = {}
  for (const kind of WRITER_OP_NAMES) ops[kind] = (args) => dispatch(kind, args)
  return ops as WriterOps
}

export function partitionOf(args: WriterOpArgs[WriterOpName]): number {
  return 'ref' in args ? args.ref.partition : args.partition
}

/**
 * `args` with each bulk `bytes` it carries (an append's transactions' records, a snapshot part)
 * replaced by `map(bytes)`: the same object when `map` returns every one as it is. Where an
 * operation keeps its bulk data is known here only; a worker runtime frames and recycles it.
 */
export function mapBytes<K extends WriterOpName>(
  args: WriterOpArgs[K],
  map: (bytes: Uint8Array) => Uint8Array,
): WriterOpArgs[K] {
  if ('transactions' in args) {
    const { transactions } = args
    let mapped: TransactionAppend[] | null = null
    for (let i = 0; i < transactions.length; i++) {
      const txn = transactions[i] as TransactionAppend
      const bytes = map(txn.bytes)
      if (bytes !== txn.bytes) mapped ??= transactions.slice(0, i)
      if (mapped !== null) mapped.push(bytes === txn.bytes ? txn : { ...txn, bytes })
    }
    return mapped === null
      ? args
      : ({ partition: args.partition, transactions: mapped } as AppendArgs as WriterOpArgs[K])
  }
  if (!('bytes' in args)) return args
  const bytes = map(args.bytes)
  return bytes === args.bytes ? args : { ...args, bytes }
}

/** The shapes an operation names, in order (an append's transactions' shapes one after the other). */
export function refsOf(args: WriterOpArgs[WriterOpName]): readonly ShapeRef[] {
  if ('ref' in args) return [args.ref]
  const { transactions } = args
  return transactions.length === 1 ? (transactions[0] as TransactionAppend).refs : transactions.flatMap((t) => t.refs)
}
