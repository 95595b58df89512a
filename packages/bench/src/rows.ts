import type { LogItem } from '@shapestore/engine'

// The row and transaction shape docs/design/ARCHITECTURE.md's goals are stated for (≈200-byte rows, 50-row
// transactions). No engine code is imported here, only its types: the gate's probes use these
// rows against whichever checkout's engine they load.

/** Bytes of one row's JSON: every row is padded to exactly this. */
export const ROW_BYTES = 200
export const ROWS_PER_TRANSACTION = 50

/** A client-ready change row of exactly ROW_BYTES bytes (ASCII, so length == bytes). */
export function rowJson(id: string): string {
  const head = `{"key":"\\"public\\".\\"items\\"/\\"${id}\\"","value":{"id":"${id}","body":"`
  const tail = '"},"headers":{"operation":"insert"}}'
  const pad = ROW_BYTES - head.length - tail.length
  if (pad < 0) throw new Error(`row id ${id} is too long for a ${ROW_BYTES}-byte row`)
  return `${head}${'x'.repeat(pad)}${tail}`
}

/**
 * `count` distinct rows to draw from. Building a row per item would make the benchmark's own
 * string work compete with the engine for the main thread; the engine stores the bytes as
 * given, so reusing a pool of rows changes nothing it does.
 */
export function rowPool(count: number): string[] {
  return Array.from({ length: count }, (_, i) => rowJson(`pool-${i}`))
}

/**
 * One source transaction `tx` of ROWS_PER_TRANSACTION inserts, offsets `tx_0`..`tx_49` in the
 * string form the README's API example uses (so the engine parses them, as it would for a
 * server relaying offsets as text).
 */
export function transactionItems(tx: number, pool: readonly string[]): LogItem[] {
  const items: LogItem[] = new Array(ROWS_PER_TRANSACTION)
  for (let op = 0; op < ROWS_PER_TRANSACTION; op++) {
    items[op] = {
      offset: `${tx}_${op}`,
      key: `"public"."items"/"${tx}-${op}"`,
      op: 'insert',
      json: pool[(tx * ROWS_PER_TRANSACTION + op) % pool.length] as string,
    }
  }
  return items
}
