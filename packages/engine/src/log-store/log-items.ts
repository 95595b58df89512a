import { EngineError, ErrorCode } from '../errors.ts'
import { ITEM_JSON_BYTES_MAX, ITEM_KEY_BYTES_MAX, TRANSACTION_BYTES_MAX, TRANSACTION_ITEMS_MAX } from '../limits.ts'
import { LogOffset } from '../log-offset.ts'
import { isWellFormedText } from '../well-formed.ts'
import { type EncodableRow, OP_TYPES, type OpType } from './log-record.ts'

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
 * Checks one transaction's items completely before anything is written: each item's form, its
 * sizes, and that offsets strictly increase. Whether an item was already appended (a replay)
 * is the writer's question; nothing else about a transaction can fail later.
 */
export function validateTransaction(items: readonly LogItem[]): EncodableRow[] {
  if (!Array.isArray(items)) invalid('items must be an array')
  if (items.length > TRANSACTION_ITEMS_MAX) {
    throw new EngineError(ErrorCode.TOO_LARGE, `a transaction has ${items.length} items, over ${TRANSACTION_ITEMS_MAX}`)
  }
  const rows: EncodableRow[] = new Array(items.length)
  let previous: LogOffset | null = null
  let bytes = 0
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    if (typeof item !== 'object' || item === null) invalid(`item ${i} is not an object`)
    const offset = LogOffset.from(item.offset)
    if (!offset.isReal || offset.op === Number.POSITIVE_INFINITY) {
      invalid(`item ${i}: ${offset} is not a real log offset (tx > 0, finite op)`)
    }
    if (previous !== null && !offset.isAfter(previous)) {
      throw new EngineError(ErrorCode.OFFSET_OUT_OF_ORDER, `item ${i}: offset ${offset} does not follow ${previous}`)
    }
    previous = offset
    if (typeof item.key !== 'string') invalid(`item ${i}: key must be a string`)
    if (typeof item.json !== 'string') invalid(`item ${i}: json must be a string`)
    if (typeof item.op !== 'string' || !Object.hasOwn(OP_TYPES, item.op))
      invalid(`item ${i}: op must be insert, update or delete`)
    if (!isWellFormedText(item.key) || !isWellFormedText(item.json)) {
      invalid(`item ${i}: key or json holds a lone UTF-16 surrogate (not encodable as UTF-8)`)
    }
    const keyBytes = Buffer.byteLength(item.key)
    const jsonBytes = Buffer.byteLength(item.json)
    if (keyBytes > ITEM_KEY_BYTES_MAX) tooLarge(`item ${i}: key is ${keyBytes} bytes, over ${ITEM_KEY_BYTES_MAX}`)
    if (jsonBytes > ITEM_JSON_BYTES_MAX) tooLarge(`item ${i}: json is ${jsonBytes} bytes, over ${ITEM_JSON_BYTES_MAX}`)
    bytes += keyBytes + jsonBytes
    rows[i] = { tx: offset.tx, op: offset.op, opType: item.op, key: item.key, keyBytes, json: item.json, jsonBytes }
  }
  if (bytes > TRANSACTION_BYTES_MAX) tooLarge(`a transaction holds ${bytes} bytes, over ${TRANSACTION_BYTES_MAX}`)
  return rows
}

function invalid(message: string): never {
  throw new EngineError(ErrorCode.INVALID_ITEM, message)
}

function tooLarge(message: string): never {
  throw new EngineError(ErrorCode.TOO_LARGE, message)
}
