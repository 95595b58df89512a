import type { PgSnapshot } from '@shapestore/engine'

/**
 * Whether transaction `xid` (the 32-bit xid a replicated transaction's begin carries) was
 * committed as seen by `snapshot` (`pg_current_snapshot()`, whose xids are 64-bit xid8): then
 * its changes are already in the shape's snapshot, and appending them again would double them.
 * Visible = before xmin, or before xmax and not in progress (xip). Compared as Postgres compares
 * xids, modulo 2^32 (TransactionIdPrecedes), so an epoch boundary does not break it.
 */
export function visibleInSnapshot(snapshot: PgSnapshot, xid: number): boolean {
  const xmin = snapshot.xmin % 2 ** 32
  const xmax = snapshot.xmax % 2 ** 32
  if (precedes(xid, xmin)) return true
  if (!precedes(xid, xmax)) return false
  return !snapshot.xipList.some((inProgress) => inProgress % 2 ** 32 === xid)
}

/**
 * Whether transaction `xid` began after `snapshot` was taken (Electric's `Xid.after_snapshot?`):
 * at or past its xmax. Every transaction the snapshot saw committed before it, so from then on a
 * shape's transactions need no filtering, and must not get any: a 32-bit xid compared with an
 * old snapshot wraps around once 2^31 more transactions have begun, and would then look visible.
 */
export function startedAfterSnapshot(snapshot: PgSnapshot, xid: number): boolean {
  return !precedes(xid, snapshot.xmax % 2 ** 32)
}

function precedes(a: number, b: number): boolean {
  return ((a - b) | 0) < 0
}
