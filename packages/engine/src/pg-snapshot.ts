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

/**
 * A transaction id as Postgres clients hand over an `xid8` (what `pg_current_snapshot()` holds):
 * a number, a bigint, or a decimal string (node-postgres gives strings). Stored and returned as
 * a number, so at most 2^53 − 1: an xid8 is epoch << 32 | xid, which stays below that until
 * the xid counter has wrapped 2^21 times.
 */
export type Xid8 = number | bigint | string

/** What setPgSnapshot accepts: a PgSnapshot, with xids in any Xid8 form and the list and flag optional. */
export interface PgSnapshotInput {
  readonly xmin: Xid8
  readonly xmax: Xid8
  readonly xipList?: readonly Xid8[]
  /** Missing means true (Electric's default). */
  readonly filterTxns?: boolean
}

const MAX_XID = BigInt(Number.MAX_SAFE_INTEGER)
/**
 * The xip list of a snapshot with no transaction in progress (the common case): one frozen
 * array for all of them, not 32 bytes per shape whose keys the read path holds.
 */
export const NO_XIPS: readonly number[] = Object.freeze([])
const DECIMAL = /^[0-9]{1,20}$/

/** Checks a pg snapshot and normalises its xids to numbers; INVALID_PG_SNAPSHOT if it is not one Postgres could produce. */
export function validatePgSnapshot(value: unknown): PgSnapshot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('a pg snapshot must be an object')
  const { xmin: rawXmin, xmax: rawXmax, xipList, filterTxns } = value as Record<string, unknown>
  const xmin = xid(rawXmin, 'xmin')
  const xmax = xid(rawXmax, 'xmax')
  // Postgres guarantees xmin <= xip < xmax (pg_current_snapshot): anything else is not a snapshot.
  if (xmin > xmax) invalid(`pg snapshot xmin ${xmin} is above xmax ${xmax}`)
  if (xipList !== undefined && !Array.isArray(xipList)) invalid('pg snapshot xipList must be an array')
  const raw = (xipList ?? []) as unknown[]
  if (raw.length > XIP_LIST_MAX) invalid(`pg snapshot xipList has more than ${XIP_LIST_MAX} entries`)
  const xips = raw.length === 0 ? NO_XIPS : raw.map((entry) => xid(entry, 'xipList entry'))
  if (!xips.every((entry) => entry >= xmin && entry < xmax))
    invalid('pg snapshot xipList entries must be in [xmin, xmax)')
  if (filterTxns !== undefined && typeof filterTxns !== 'boolean') invalid('pg snapshot filterTxns must be a boolean')
  return { xmin, xmax, xipList: xips, filterTxns: filterTxns ?? true }
}

/** An Xid8 as a number: a non-negative integer up to 2^53 − 1, given as a number, a bigint or decimal digits. */
function xid(value: unknown, name: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value
  } else if (typeof value === 'bigint' || (typeof value === 'string' && DECIMAL.test(value))) {
    const big = BigInt(value)
    if (big >= 0n && big <= MAX_XID) return Number(big)
    if (big > MAX_XID) invalid(`pg snapshot ${name} ${value} is above 2^53 - 1, the largest xid this engine stores`)
  }
  invalid(
    `pg snapshot ${name} must be a non-negative integer (a number, a bigint or decimal digits), got ${shown(value)}`,
  )
}

function shown(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 32))
  return typeof value === 'number' ? String(value) : typeof value
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_PG_SNAPSHOT, message)
}
