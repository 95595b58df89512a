import { EngineError, ErrorCode } from './errors.ts'
import { XIP_LIST_MAX } from './limits.ts'

/** The Postgres snapshot a shape's initial query ran in (opaque to storage, validated for shape). */
export interface PgSnapshot {
  readonly xmin: number
  readonly xmax: number
  readonly xipList: readonly number[]
  /** Whether transactions must still be filtered against this snapshot (Electric: missing means true). */
  readonly filterTxns: boolean
}

export function validatePgSnapshot(value: unknown): PgSnapshot {
  if (typeof value !== 'object' || value === null) invalid('a pg snapshot must be an object')
  const { xmin, xmax, xipList, filterTxns } = value as Record<string, unknown>
  if (!isXid(xmin) || !isXid(xmax)) invalid('pg snapshot xmin and xmax must be non-negative safe integers')
  // Postgres guarantees xmin <= xip < xmax (pg_current_snapshot): anything else is not a snapshot.
  if (xmin > xmax) invalid(`pg snapshot xmin ${xmin} is above xmax ${xmax}`)
  if (xipList !== undefined && !Array.isArray(xipList)) invalid('pg snapshot xipList must be an array')
  const xips = (xipList ?? []) as unknown[]
  if (xips.length > XIP_LIST_MAX) invalid(`pg snapshot xipList has more than ${XIP_LIST_MAX} entries`)
  if (!xips.every(isXid)) invalid('pg snapshot xipList must hold non-negative safe integers')
  if (!xips.every((xip) => xip >= xmin && xip < xmax)) invalid('pg snapshot xipList entries must be in [xmin, xmax)')
  if (filterTxns !== undefined && typeof filterTxns !== 'boolean') invalid('pg snapshot filterTxns must be a boolean')
  return { xmin, xmax, xipList: xips as number[], filterTxns: filterTxns ?? true }
}

function isXid(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_ITEM, message)
}
