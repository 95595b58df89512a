/**
 * Postgres `numeric` values compared exactly. A numeric column's values are held as the text
 * Postgres prints (pg-columns.ts); the where subset parses them here into a normalised decimal
 * so that `1.10 = 1.1`, and digits past float8's 15-17 still count. Hand-written rather than a
 * decimal library: comparing is all that is needed, and a normalised decimal compares by sign,
 * then the position of its first digit, then its digits as a string.
 */

/**
 * A finite value is `sign × 0.digits × 10^point`, with no leading or trailing zero in `digits`
 * (zero: sign 0, digits ''), so equal numbers have equal fields. Postgres numeric also has NaN
 * and, since 14, ±Infinity.
 */
export type Numeric =
  | { readonly kind: 'finite'; readonly sign: -1 | 0 | 1; readonly digits: string; readonly point: number }
  | { readonly kind: 'nan' | 'infinity' | '-infinity' }

/** Postgres's order: -Infinity < every number < Infinity < NaN (NaN equals NaN, unlike float NaN). */
const RANK = { '-infinity': 0, finite: 1, infinity: 2, nan: 3 } as const

/** Postgres numeric's input limits: 131,072 digits before the point, a display scale of 16,383. */
const INTEGER_DIGITS_MAX = 131_072
const SCALE_MAX = 16_383

const DECIMAL = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/
const SPECIAL = new Map<string, Numeric>([
  ['nan', { kind: 'nan' }],
  ['infinity', { kind: 'infinity' }],
  ['+infinity', { kind: 'infinity' }],
  ['inf', { kind: 'infinity' }],
  ['+inf', { kind: 'infinity' }],
  ['-infinity', { kind: '-infinity' }],
  ['-inf', { kind: '-infinity' }],
])

/**
 * Numeric input as Postgres 15 reads it (surrounding spaces, a sign, `1.5`, `.5`, `5.`, `1e-3`,
 * NaN and ±Infinity in any case), never through a float; otherwise an error saying why, which
 * the caller words into its 400.
 */
export function parseNumeric(input: string): Numeric | { readonly error: string } {
  const text = input.trim()
  const special = SPECIAL.get(text.toLowerCase())
  if (special !== undefined) return special
  const match = DECIMAL.exec(text)
  if (match === null) return { error: 'invalid input' }
  const [, sign, whole = '', pointed, bare, exponentText = '0'] = match
  const fraction = pointed ?? bare ?? ''
  const exponent = Number(exponentText) // a huge one becomes ±Infinity: out of range below
  const all = whole + fraction
  const lead = all.search(/[1-9]/)
  const scale = Math.max(0, fraction.length - exponent)
  if (scale > SCALE_MAX) return { error: 'value out of range' }
  if (lead === -1) return { kind: 'finite', sign: 0, digits: '', point: 0 }
  const point = whole.length + exponent - lead
  if (point > INTEGER_DIGITS_MAX) return { error: 'value out of range' }
  const digits = all.slice(lead).replace(/0+$/, '')
  return { kind: 'finite', sign: sign === '-' ? -1 : 1, digits, point }
}

/** Negative, zero or positive as a is below, equal to or above b, in Postgres's numeric order. */
export function compareNumeric(a: Numeric, b: Numeric): number {
  if (a.kind !== 'finite' || b.kind !== 'finite') return Math.sign(RANK[a.kind] - RANK[b.kind])
  if (a.sign !== b.sign) return Math.sign(a.sign - b.sign)
  if (a.sign === 0) return 0
  // Same sign, both nonzero and normalised: the first digit further left is the larger
  // magnitude; at the same position, the digit strings compare as the digits do.
  const magnitude = a.point !== b.point ? a.point - b.point : a.digits < b.digits ? -1 : a.digits > b.digits ? 1 : 0
  return Math.sign(magnitude) * a.sign
}

/**
 * Text parseNumeric reads back as the same value: `NaN`, `Infinity`, `-Infinity`, or a decimal
 * without trailing zeros, plain where JS prints numbers plain (1e-7 < |value| < 1e21) and in
 * exponent form beyond, so that `n > 1e131071` stays short (the engine caps a where clause's
 * canonical text at 16 KiB).
 */
export function numericText(value: Numeric): string {
  switch (value.kind) {
    case 'nan':
      return 'NaN'
    case 'infinity':
      return 'Infinity'
    case '-infinity':
      return '-Infinity'
  }
  const { sign, digits, point } = value
  if (sign === 0) return '0'
  let text: string
  if (point > 21 || point < -5) text = `${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${point - 1}`
  else if (point <= 0) text = `0.${'0'.repeat(-point)}${digits}`
  else if (point >= digits.length) text = digits + '0'.repeat(point - digits.length)
  else text = `${digits.slice(0, point)}.${digits.slice(point)}`
  return sign < 0 ? `-${text}` : text
}
