import { statSync } from 'node:fs'
import { EngineError, ErrorCode } from './errors.ts'
import { inlineRuntime } from './inline-runtime.ts'
import { assertKnownOptions } from './known-options.ts'
import {
  CATALOG_MAP_BYTES_DEFAULT,
  CHUNK_BYTES_THRESHOLD_DEFAULT,
  CHUNK_BYTES_THRESHOLD_MAX,
  CHUNK_BYTES_THRESHOLD_MIN,
  PARTITION_MAP_BYTES_DEFAULT,
  PARTITIONS_DEFAULT,
  PARTITIONS_MAX,
  SNAPSHOT_STALL_TIMEOUT_MS_DEFAULT,
} from './limits.ts'
import type { Runtime } from './runtime.ts'

export interface EngineOptions {
  /** The data directory; created if missing; one engine at a time (locked). */
  readonly dir: string
  /** Who runs the writers. Default: inlineRuntime() (on the calling thread). */
  readonly runtime?: Runtime | undefined
  /** LMDB environments the shapes are spread over, fixed when the directory is created. Default 8. */
  readonly partitions?: number | undefined
  /** A log chunk closes once its JSON bytes reach this. Default 10 MiB (Electric's). */
  readonly chunkBytesThreshold?: number | undefined
  /**
   * Initial LMDB map size of each partition (virtual; the file grows as used). Not a cap:
   * lmdb-js grows the map when it fills; what runs out is the disk (STORAGE_FULL). Default 64 GiB.
   */
  readonly partitionMapBytes?: number | undefined
  /** Initial LMDB map size of the catalog (grown like partitionMapBytes). Default 16 GiB. */
  readonly catalogMapBytes?: number | undefined
  /** How long a reader of an unfinished snapshot waits for more rows. Default 60 s. */
  readonly snapshotStallTimeoutMs?: number | undefined
}

export type ResolvedOptions = Required<{ [K in keyof EngineOptions]: Exclude<EngineOptions[K], undefined> }>

const GIB = 1024 ** 3

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'dir',
  'runtime',
  'partitions',
  'chunkBytesThreshold',
  'partitionMapBytes',
  'catalogMapBytes',
  'snapshotStallTimeoutMs',
])

export function resolveOptions(options: EngineOptions): ResolvedOptions {
  assertKnownOptions(options, KNOWN_OPTIONS)
  if (typeof options.dir !== 'string' || options.dir.length === 0) invalid('options.dir must be a non-empty path')
  if (options.dir.includes('\u0000')) invalid('options.dir contains a NUL character')
  // Checked before anything is created: a file in the way would otherwise fail deep in mkdir or LMDB.
  if (statSync(options.dir, { throwIfNoEntry: false })?.isDirectory() === false) {
    invalid(`options.dir exists and is not a directory: ${options.dir}`)
  }
  if (options.runtime !== undefined && typeof options.runtime !== 'function') {
    invalid('options.runtime must be a runtime, e.g. inlineRuntime() or workerRuntime({...})')
  }
  return {
    dir: options.dir,
    runtime: options.runtime ?? inlineRuntime(),
    partitions: integer('partitions', options.partitions, PARTITIONS_DEFAULT, 1, PARTITIONS_MAX),
    chunkBytesThreshold: integer(
      'chunkBytesThreshold',
      options.chunkBytesThreshold,
      CHUNK_BYTES_THRESHOLD_DEFAULT,
      CHUNK_BYTES_THRESHOLD_MIN,
      CHUNK_BYTES_THRESHOLD_MAX,
    ),
    partitionMapBytes: integer(
      'partitionMapBytes',
      options.partitionMapBytes,
      PARTITION_MAP_BYTES_DEFAULT,
      1024 ** 2,
      1024 * GIB,
    ),
    catalogMapBytes: integer(
      'catalogMapBytes',
      options.catalogMapBytes,
      CATALOG_MAP_BYTES_DEFAULT,
      1024 ** 2,
      1024 * GIB,
    ),
    snapshotStallTimeoutMs: integer(
      'snapshotStallTimeoutMs',
      options.snapshotStallTimeoutMs,
      SNAPSHOT_STALL_TIMEOUT_MS_DEFAULT,
      1,
      24 * 60 * 60 * 1000,
    ),
  }
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    invalid(`options.${name} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_OPTION, message)
}
