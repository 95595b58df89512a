/**
 * Postgres WAL positions. An LSN `X/Y` is a 64-bit byte position: offsets use it as a number
 * (`tx` of `tx_op` is the transaction's commit LSN, as Electric's offsets do), exact while X
 * stays under 2^21, that is for the first 8 PiB of WAL a cluster ever writes.
 */
export function lsnToNumber(lsn: string): number {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn)
  if (match === null) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`)
  const value = Number.parseInt(match[1] as string, 16) * 2 ** 32 + Number.parseInt(match[2] as string, 16)
  if (!Number.isSafeInteger(value)) throw new Error(`LSN ${lsn} is past 2^53`)
  return value
}

export function numberToLsn(value: number): string {
  const high = Math.floor(value / 2 ** 32)
  const low = value - high * 2 ** 32
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`
}
