import { randomInt } from 'node:crypto'

/** Electric's cursor epoch: 2024-10-09T00:00:00Z, in seconds. */
const CURSOR_EPOCH_S = Date.UTC(2024, 9, 9) / 1000

/**
 * The `electric-cursor` of a live response (SRV plug/utils.ex get_next_interval_timestamp):
 * seconds since the epoch, rounded up to a multiple of the long-poll timeout, so collapsed live
 * requests share a URL only within one window. If that is not past the request's cursor, the
 * request's cursor plus 1..3600 s, so a client never sees the same cursor twice in a row (a
 * repeated cursor is what makes a client treat fresh responses as a cache replay).
 */
export function nextCursor(longPollTimeoutMs: number, requestCursor: string | undefined, nowMs = Date.now()): string {
  const interval = Math.max(1, Math.ceil(longPollTimeoutMs / 1000))
  const since = nowMs / 1000 - CURSOR_EPOCH_S
  const cursor = Math.ceil(since / interval) * interval
  const previous = requestCursor === undefined || !/^\d{1,15}$/.test(requestCursor) ? null : Number(requestCursor)
  if (previous !== null && cursor <= previous) return String(previous + randomInt(1, 3601))
  return String(cursor)
}
