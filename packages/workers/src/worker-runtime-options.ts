import { assertKnownOptions, assertReadPathKeys, EngineError, ErrorCode } from '@shapestore/engine'
import { READER_MEMORY_MB_MIN, READERS_MAX } from './reader-pool.ts'
import { TABLE_CAPACITY_MAX, TABLE_CAPACITY_MIN } from './shared-table/layout.ts'

export const WRITERS_MAX = 64
export const WRITER_MEMORY_MB_MIN = 16
/** Heap limits above this are typos, not configurations (64 GiB per thread). */
export const THREAD_MEMORY_MB_MAX = 64 * 1024

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'writers',
  'writerMemoryMb',
  'onWriterCrash',
  'readers',
  'readerMemoryMb',
  'tableCapacity',
  'readPathKeys',
  'writerEntry',
])

/**
 * Checks every workerRuntime option when workerRuntime() is called, before openEngine creates
 * anything on disk: an option the reader pool or the shared table would only reject once the
 * engine starts its runtime would otherwise fail after the catalog was already created.
 */
export function validateWorkerRuntimeOptions(options: unknown): void {
  assertKnownOptions(options, KNOWN_OPTIONS, 'workerRuntime')
  const o = options as Record<string, unknown>
  integer('writers', o.writers, 1, WRITERS_MAX)
  integer('writerMemoryMb', o.writerMemoryMb, WRITER_MEMORY_MB_MIN, THREAD_MEMORY_MB_MAX)
  integer('readers', o.readers, 1, READERS_MAX)
  integer('readerMemoryMb', o.readerMemoryMb, READER_MEMORY_MB_MIN, THREAD_MEMORY_MB_MAX)
  integer('tableCapacity', o.tableCapacity, TABLE_CAPACITY_MIN, TABLE_CAPACITY_MAX)
  if (o.readPathKeys !== undefined) assertReadPathKeys(o.readPathKeys)
  if (o.onWriterCrash !== undefined && typeof o.onWriterCrash !== 'function')
    invalid('onWriterCrash must be a function')
  if (o.writerEntry !== undefined && !(o.writerEntry instanceof URL)) invalid('writerEntry must be a URL')
}

function integer(name: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    invalid(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_OPTION, message)
}
