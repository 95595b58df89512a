import { EngineError, ErrorCode } from './errors.ts'
import { OFFSET_PART_MAX } from './limits.ts'

/**
 * A position in a shape's log, in Electric's forms:
 * - `-1`     before all (start from the snapshot),
 * - `0_n`    snapshot chunk n (the virtual region),
 * - `0_inf`  the end of the snapshot region,
 * - `tx_op`  a real entry: tx = the source transaction's commit LSN (> 0), op = its position.
 * Ordered by tx, then op; `inf` is above every op. Parts are exact JS numbers (≤ 2^53 - 1),
 * so an offset costs no BigInt; larger parts are rejected with INVALID_OFFSET.
 */
export class LogOffset {
  readonly tx: number
  /** A non-negative integer, or Infinity for `tx_inf`. */
  readonly op: number

  private constructor(tx: number, op: number) {
    this.tx = tx
    this.op = op
  }

  static readonly BEFORE_ALL = new LogOffset(-1, 0)
  static readonly FIRST = new LogOffset(0, 0)
  static readonly LAST_BEFORE_REAL = new LogOffset(0, Number.POSITIVE_INFINITY)

  /** Builds an offset from its parts, rejecting what Electric's LogOffset.new/2 rejects. */
  static of(tx: number, op: number): LogOffset {
    if (tx === -1 && op === 0) return LogOffset.BEFORE_ALL
    if (!isPart(tx) || !(isPart(op) || op === Number.POSITIVE_INFINITY)) {
      throw new EngineError(ErrorCode.INVALID_OFFSET, `not a log offset: tx=${tx} op=${op}`)
    }
    return new LogOffset(tx, op)
  }

  /** A snapshot chunk's virtual offset `0_n`. */
  static snapshotChunk(n: number): LogOffset {
    return LogOffset.of(0, n)
  }

  static parse(text: string): LogOffset {
    if (typeof text !== 'string') {
      throw new EngineError(ErrorCode.INVALID_OFFSET, `a log offset must be a string, got ${typeof text}`)
    }
    if (text === '-1') return LogOffset.BEFORE_ALL
    const match = /^(\d{1,20})_(\d{1,20}|inf)$/.exec(text)
    if (match === null) {
      throw new EngineError(ErrorCode.INVALID_OFFSET, `not a log offset: ${JSON.stringify(text.slice(0, 64))}`)
    }
    const tx = Number(match[1])
    const op = match[2] === 'inf' ? Number.POSITIVE_INFINITY : Number(match[2])
    if (!isPart(tx) || !(isPart(op) || op === Number.POSITIVE_INFINITY)) {
      throw new EngineError(ErrorCode.INVALID_OFFSET, `log offset part above 2^53 - 1: ${text}`)
    }
    return new LogOffset(tx, op)
  }

  /** Accepts a LogOffset or its string form; anything else is INVALID_OFFSET. */
  static from(value: LogOffset | string): LogOffset {
    if (value instanceof LogOffset) return value
    return LogOffset.parse(value)
  }

  static compare(a: LogOffset, b: LogOffset): number {
    if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1
    if (a.op === b.op) return 0
    return a.op < b.op ? -1 : 1
  }

  static max(a: LogOffset, b: LogOffset): LogOffset {
    return LogOffset.compare(a, b) >= 0 ? a : b
  }

  static min(a: LogOffset, b: LogOffset): LogOffset {
    return LogOffset.compare(a, b) <= 0 ? a : b
  }

  isBefore(other: LogOffset): boolean {
    return LogOffset.compare(this, other) < 0
  }

  isAfter(other: LogOffset): boolean {
    return LogOffset.compare(this, other) > 0
  }

  equals(other: LogOffset): boolean {
    return this.tx === other.tx && this.op === other.op
  }

  /** `-1` */
  get isBeforeAll(): boolean {
    return this.tx === -1
  }

  /** `0_n` or `0_inf`: the snapshot region. */
  get isVirtual(): boolean {
    return this.tx === 0
  }

  /** A log entry's offset (tx > 0). */
  get isReal(): boolean {
    return this.tx > 0
  }

  toString(): string {
    if (this.tx === -1) return '-1'
    return `${this.tx}_${this.op === Number.POSITIVE_INFINITY ? 'inf' : this.op}`
  }

  toJSON(): string {
    return this.toString()
  }
}

function isPart(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= OFFSET_PART_MAX
}
