/**
 * Live-read cursors (protocol §10.1): the number of 20-second intervals since 2024-10-09
 * 00:00 UTC, and always past the cursor the client echoed, so a CDN never serves one cached
 * empty answer forever.
 */
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9)
const CURSOR_INTERVAL_MS = 20_000
/** The protocol's jitter: 1 to 3,600 seconds, in whole intervals. */
const JITTER_INTERVALS_MAX = 3_600_000 / CURSOR_INTERVAL_MS

export function nextCursor(clientCursor: string | null, nowMs = Date.now()): string {
  const interval = Math.floor((nowMs - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS)
  const echoed = clientCursor !== null && /^\d{1,15}$/.test(clientCursor) ? Number(clientCursor) : -1
  if (echoed < interval) return String(interval)
  return String(echoed + 1 + Math.floor(Math.random() * JITTER_INTERVALS_MAX))
}
