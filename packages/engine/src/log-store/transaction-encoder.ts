import { EngineError, ErrorCode } from '../errors.ts'
import {
  ITEM_JSON_BYTES_MAX,
  ITEM_KEY_BYTES_MAX,
  OFFSET_PART_MAX,
  TRANSACTION_BYTES_MAX,
  TRANSACTION_ITEMS_MAX,
} from '../limits.ts'
import { LogOffset } from '../log-offset.ts'
import { isWellFormedText } from '../well-formed.ts'
import {
  CHAIN_LONG_BYTES,
  OP_TYPES,
  type OpType,
  RECORD_COUNT_AT,
  RECORD_HEADER_BYTES,
  ROW_HEADER_BYTES,
  ROW_JSON_BYTES_BYTES,
  ROW_KEY_BYTES_AT,
  ROW_OP_AT,
  ROW_OP_TYPE_AT,
  ROW_OVERHEAD_BYTES,
  ROW_TX_AT,
} from './record-layout.ts'

/** One change of one transaction, as a caller appends it. */
export interface LogItem {
  /** A real offset (`tx_op`, tx > 0); the items of one call strictly increase. */
  readonly offset: LogOffset | string
  readonly key: string
  readonly op: OpType
  /** The client-ready JSON of the change. */
  readonly json: string
}

/**
 * One transaction as the writers take it: its log record, encoded once on the main thread
 * (record-layout.ts), and the few numbers a writer needs to file it without reading the rows
 * (whether a replay skips some, whether a chunk closes). Nothing in it is an object per row, so
 * it crosses to a writer thread as bytes plus a handful of numbers.
 */
export interface EncodedTransaction {
  /** The log record: exactly the bytes the writer stores. */
  readonly bytes: Uint8Array
  readonly rowCount: number
  readonly firstTx: number
  readonly firstOp: number
  readonly lastTx: number
  readonly lastOp: number
  /** The rows' JSON bytes, summed (chunk bookkeeping). */
  readonly jsonBytes: number
}

/**
 * Checks one transaction's items completely and encodes them into their log record, in one
 * pass over the items and one over the bytes. Every check runs before the record exists, so a
 * bad item rejects the call with a coded error and nothing is written. Whether an item was
 * already appended (a replay) is the writer's question; nothing else about a transaction can
 * fail later. The record is written into `allocate`'s memory (a worker runtime's transfer
 * buffer), which is asked for only once every check has passed.
 *
 * Why this shape: it runs on the main thread for every append, so it allocates the record and
 * nothing per row (offsets are parsed in place, not into LogOffsets; sizes go to scratch arrays).
 */
export function encodeTransaction(
  items: readonly LogItem[],
  allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
): EncodedTransaction {
  if (!Array.isArray(items)) invalid('items must be an array')
  const count = items.length
  if (count > TRANSACTION_ITEMS_MAX) {
    throw new EngineError(ErrorCode.TOO_LARGE, `a transaction has ${count} items, over ${TRANSACTION_ITEMS_MAX}`)
  }
  const rows = scratchRows(count)
  try {
    return encodeChecked(items, rows, allocate)
  } finally {
    // The scratch must not keep the caller's strings alive.
    rows.keys.fill('', 0, count)
    rows.jsons.fill('', 0, count)
  }
}

function encodeChecked(
  items: readonly LogItem[],
  rows: ScratchRows,
  allocate: (bytes: number) => Buffer,
): EncodedTransaction {
  const count = items.length
  let previousTx = -1
  let previousOp = -1
  let bytes = 0
  let jsonBytes = 0
  for (let i = 0; i < count; i++) {
    const item = items[i]
    if (typeof item !== 'object' || item === null) invalid(`item ${i} is not an object`)
    parseItemOffset(item.offset, i)
    const { tx, op } = parsed
    if (i > 0 && (tx < previousTx || (tx === previousTx && op <= previousOp))) {
      throw new EngineError(
        ErrorCode.OFFSET_OUT_OF_ORDER,
        `item ${i}: offset ${tx}_${op} does not follow ${previousTx}_${previousOp}`,
      )
    }
    previousTx = tx
    previousOp = op
    rows.tx[i] = tx
    rows.op[i] = op
    const { key, json } = item
    if (typeof key !== 'string') invalid(`item ${i}: key must be a string`)
    if (typeof json !== 'string') invalid(`item ${i}: json must be a string`)
    const opType = item.op
    if (typeof opType !== 'string' || !Object.hasOwn(OP_TYPES, opType))
      invalid(`item ${i}: op must be insert, update or delete`)
    rows.opType[i] = OP_TYPES[opType]
    if (!isWellFormedText(key) || !isWellFormedText(json)) {
      invalid(`item ${i}: key or json holds a lone UTF-16 surrogate (not encodable as UTF-8)`)
    }
    const keyBytes = Buffer.byteLength(key)
    const itemJsonBytes = Buffer.byteLength(json)
    if (keyBytes > ITEM_KEY_BYTES_MAX) tooLarge(`item ${i}: key is ${keyBytes} bytes, over ${ITEM_KEY_BYTES_MAX}`)
    if (itemJsonBytes > ITEM_JSON_BYTES_MAX) {
      tooLarge(`item ${i}: json is ${itemJsonBytes} bytes, over ${ITEM_JSON_BYTES_MAX}`)
    }
    rows.keyBytes[i] = keyBytes
    rows.jsonBytes[i] = itemJsonBytes
    rows.keys[i] = key
    rows.jsons[i] = json
    bytes += keyBytes + itemJsonBytes
    jsonBytes += itemJsonBytes
  }
  if (bytes > TRANSACTION_BYTES_MAX) tooLarge(`a transaction holds ${bytes} bytes, over ${TRANSACTION_BYTES_MAX}`)

  const record = allocate(RECORD_HEADER_BYTES + count * ROW_OVERHEAD_BYTES + bytes + CHAIN_LONG_BYTES) as WritableBuffer
  // The fixed-width fields go through a DataView: its stores compile to plain writes, where
  // Buffer's writeUInt32BE checks its arguments on every call.
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength)
  view.setUint32(RECORD_COUNT_AT, count)
  let at = RECORD_HEADER_BYTES
  for (let i = 0; i < count; i++) {
    const tx = rows.tx[i] as number
    const op = rows.op[i] as number
    view.setUint32(at + ROW_TX_AT, Math.floor(tx / 2 ** 32))
    view.setUint32(at + ROW_TX_AT + 4, tx >>> 0)
    view.setUint32(at + ROW_OP_AT, Math.floor(op / 2 ** 32))
    view.setUint32(at + ROW_OP_AT + 4, op >>> 0)
    view.setUint8(at + ROW_OP_TYPE_AT, rows.opType[i] as number)
    const keyBytes = rows.keyBytes[i] as number
    const itemJsonBytes = rows.jsonBytes[i] as number
    view.setUint32(at + ROW_KEY_BYTES_AT, keyBytes)
    at += ROW_HEADER_BYTES
    at = writeText(record, rows.keys[i] as string, keyBytes, at)
    view.setUint32(at, itemJsonBytes)
    at = writeText(record, rows.jsons[i] as string, itemJsonBytes, at + ROW_JSON_BYTES_BYTES)
  }
  // Room for the chain, the writer's to write (it knows the shape's last entry); zero until then.
  record.fill(0, at)
  return {
    bytes: record,
    rowCount: count,
    firstTx: count === 0 ? 0 : (rows.tx[0] as number),
    firstOp: count === 0 ? 0 : (rows.op[0] as number),
    lastTx: previousTx,
    lastOp: previousOp,
    jsonBytes,
  }
}

/**
 * Node's per-encoding writers behind Buffer.prototype.write, called directly: `write` itself
 * re-parses its arguments and looks up the encoding on every call (measured at a fifth of the
 * encoder's time). Both exist on every Buffer of Node 20 and later; @types/node omits them.
 */
export interface WritableBuffer extends Buffer {
  latin1Write(text: string, offset: number, length: number): number
  utf8Write(text: string, offset: number, length: number): number
}

/**
 * Writes the UTF-8 of `text`, measured as `bytes` long, at `at`; returns the end. A string
 * whose UTF-8 is as long as it is holds only ASCII, which is also its Latin-1: V8 copies a
 * one-byte string's Latin-1 out directly, while its UTF-8 writer goes character by character.
 */
function writeText(buffer: WritableBuffer, text: string, bytes: number, at: number): number {
  return at + (bytes === text.length ? buffer.latin1Write(text, at, bytes) : buffer.utf8Write(text, at, bytes))
}

/** The offset parseItemOffset read last: one pair for the module instead of an object per item. */
const parsed = { tx: 0, op: 0 }

/**
 * Reads a real log offset (`tx_op`, tx > 0, finite op) into `parsed`. The common form, a
 * string of digits, is read in place; anything else goes through LogOffset.from, which throws
 * the coded error for a malformed offset.
 */
function parseItemOffset(value: LogOffset | string, index: number): void {
  if (typeof value !== 'string' || !parseDigitsOffset(value)) {
    const offset = LogOffset.from(value)
    parsed.tx = offset.tx
    parsed.op = offset.op
  }
  if (!(parsed.tx > 0) || parsed.op === Number.POSITIVE_INFINITY) {
    invalid(`item ${index}: ${LogOffset.of(parsed.tx, parsed.op)} is not a real log offset (tx > 0, finite op)`)
  }
}

/**
 * `digits_digits` with both parts at most OFFSET_PART_MAX (and at most 20 digits, as
 * LogOffset.parse allows). Exact: every value below 2^53 accumulates exactly, and a longer
 * one lands at or above 2^53, past the limit, where it is left to LogOffset.parse to reject.
 */
function parseDigitsOffset(text: string): boolean {
  const length = text.length
  let at = 0
  let tx = 0
  while (at < length) {
    const c = text.charCodeAt(at) - 48
    if (c < 0 || c > 9) break
    tx = tx * 10 + c
    at++
  }
  if (at === 0 || at > 20 || at === length || text.charCodeAt(at) !== 95 /* _ */) return false
  const opStart = ++at
  let op = 0
  while (at < length) {
    const c = text.charCodeAt(at) - 48
    if (c < 0 || c > 9) return false
    op = op * 10 + c
    at++
  }
  if (at === opStart || at - opStart > 20 || tx > OFFSET_PART_MAX || op > OFFSET_PART_MAX) return false
  parsed.tx = tx
  parsed.op = op
  return true
}

/**
 * What the checking pass read and learnt of each item, for the encoding pass: one set of
 * arrays for the module (encoding is synchronous), grown as needed, instead of an object per
 * row. The encoding pass uses the strings the checks saw, never the items again (a getter
 * that answered differently the second time would otherwise be written unchecked).
 */
interface ScratchRows {
  readonly keys: string[]
  readonly jsons: string[]
  readonly tx: Float64Array
  readonly op: Float64Array
  readonly opType: Uint8Array
  readonly keyBytes: Int32Array
  readonly jsonBytes: Int32Array
}

let scratch = scratchOf(1024)

function scratchOf(items: number): ScratchRows {
  return {
    keys: new Array<string>(items).fill(''),
    jsons: new Array<string>(items).fill(''),
    tx: new Float64Array(items),
    op: new Float64Array(items),
    opType: new Uint8Array(items),
    keyBytes: new Int32Array(items),
    jsonBytes: new Int32Array(items),
  }
}

function scratchRows(items: number): ScratchRows {
  if (scratch.tx.length < items) scratch = scratchOf(items)
  return scratch
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_ITEM, message)
}

function tooLarge(message: string): never {
  throw new EngineError(ErrorCode.TOO_LARGE, message)
}
