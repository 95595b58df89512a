export { Catalog, type CatalogEntry } from './catalog/catalog.ts'
export { Engine, type EngineStats, openEngine, type WaitForOffsetOptions } from './engine.ts'
export { EngineError, ErrorCode } from './errors.ts'
export { assertHandle, isValidHandle, type ShapeHandle } from './handle.ts'
export { type InlineRuntimeOptions, inlineRuntime } from './inline-runtime.ts'
export { type VerifiedFile, verifyStore } from './integrity/verify-store.ts'
export { assertKnownOptions } from './known-options.ts'
export * as limits from './limits.ts'
export { lmdbSettled } from './lmdb-settled.ts'
export { LogOffset } from './log-offset.ts'
export { readLogJson } from './log-store/log-json.ts'
export { asBuffer, visitLogRecord } from './log-store/log-record.ts'
export { type CommitCounters, PartitionStore } from './log-store/partition-store.ts'
export { PartitionStores } from './log-store/partition-stores.ts'
export { PartitionWriter, type PartitionWriterOptions } from './log-store/partition-writer.ts'
export type { OpType } from './log-store/record-layout.ts'
export { type EncodedTransaction, encodeTransaction, type LogItem } from './log-store/transaction-encoder.ts'
export type { EngineOptions } from './options.ts'
export { PartitionWriters, type PartitionWritersOptions } from './partition-writers.ts'
export type { PgSnapshot, PgSnapshotInput, Xid8 } from './pg-snapshot.ts'
export { type ReadPathKeys, readPathKeysOf } from './read-path/read-path-keys.ts'
export { assertReadPathKeys, EvictionOrder, MapReadPathTable, type ReadPathTable } from './read-path/read-path-table.ts'
export type { LogJsonReader, LogJsonRequest, Runtime, RuntimeContext, Writers } from './runtime.ts'
export { type CanonicalShape, canonicalShape, type ShapeDefinition } from './shape.ts'
export type { ShapeRef } from './shape-ref.ts'
export {
  type AppendArgs,
  type EncodedSnapshotPart,
  mapBytes,
  partitionOf,
  refsOf,
  type SnapshotPartArgs,
  type TransactionAppend,
  transactionAppend,
  WRITER_OP_NAMES,
  type WriterOpArgs,
  type WriterOpDispatch,
  type WriterOpName,
  type WriterOps,
  writerOpsVia,
} from './write-ops.ts'
