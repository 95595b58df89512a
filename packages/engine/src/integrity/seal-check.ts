import { dirname } from 'node:path'
import { open } from 'lmdb'
import { LogOffset } from '../log-offset.ts'
import { readU64 } from '../log-store/keys.ts'
import { previousEntry, sharedRefKey } from '../log-store/log-record.ts'
import { SHARED_COUNT_BYTES } from '../log-store/record-layout.ts'
import { decodeMetaValue } from '../log-store/shape-meta.ts'
import { isLastPartOfChunk } from '../log-store/snapshot-part.ts'
import { checkSeal } from '../log-store/value-seal.ts'
import { guardValueSizes, listedValue } from '../log-store/value-size-guard.ts'

/**
 * Checks the seal (checksum) of every stored value of one partition file: its log values, shared
 * records, snapshot parts (log-store/value-seal.ts) and shape metadata (log-store/shape-meta.ts,
 * whose records from before data format 3 have no seal and are checked for their form); and
 * that every log entry names the entry before it in its shape's log (record-layout.ts: the
 * chain), so a missing entry is found too, that every reference to a shared record finds
 * it, that each shape's log ends where its metadata says its last transaction does, and that
 * each chunk of a complete snapshot has its last part (reads refuse either short). Returns a description of the damage, or undefined if
 * every value is sound. Run only on a file whose pages walked clean: iterating a
 * structurally damaged file is LMDB's to refuse, not this check's.
 */
export function sealProblem(partitionFile: string): string | undefined {
  const env = open({ path: dirname(partitionFile), readOnly: true })
  try {
    let damaged = 0
    let first: string | undefined
    const chain = new ChainCheck()
    /** Per shape, how many of its snapshot chunks end with a last part. */
    const endedChunks = new Map<number, number>()
    const txs = env.openDB<Buffer, Buffer>({ name: 'txs', encoding: 'binary', keyEncoding: 'binary' })
    for (const name of ['log', 'snapshot', 'txs'] as const) {
      const db = name === 'txs' ? txs : env.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary' })
      guardValueSizes(db)
      for (const key of db.getKeys({})) {
        try {
          const value = Buffer.from(listedValue(db, key))
          checkSeal(key, name === 'txs' ? value.subarray(SHARED_COUNT_BYTES, value.length) : value, name)
          if (name === 'log') {
            chain.next(key, value)
            const shared = sharedRefKey(value)
            if (shared !== null && !txs.doesExist(shared)) throw new Error('a log reference points to no shared record')
          } else if (name === 'snapshot' && isLastPartOfChunk(value)) {
            const shapeId = key.readUInt32BE(0)
            endedChunks.set(shapeId, (endedChunks.get(shapeId) ?? 0) + 1)
          }
        } catch (error) {
          damaged++
          first ??= `${(error as Error).message} at key ${key.toString('hex')}`
        }
      }
    }
    const meta = env.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    guardValueSizes(meta)
    let cutShort = 0
    let firstCut: string | undefined
    for (const key of meta.getKeys({})) {
      try {
        const { lastTxnOffset, lastSnapshotChunk } = decodeMetaValue(key, Buffer.from(listedValue(meta, key)))
        const logEnd = chain.lastOf(key)
        if (lastTxnOffset.isReal && (logEnd === undefined || !logEnd.equals(lastTxnOffset))) {
          cutShort++
          firstCut ??= `shape ${key}: the log ends at ${logEnd ?? 'no entry'}, its last transaction at ${lastTxnOffset}`
        }
        const ended = endedChunks.get(key) ?? 0
        if (lastSnapshotChunk !== null && ended !== lastSnapshotChunk + 1) {
          cutShort++
          firstCut ??= `shape ${key}: ${ended} of its ${lastSnapshotChunk + 1} snapshot chunks end with their last part`
        }
      } catch (error) {
        damaged++
        first ??= `${(error as Error).message} of shape ${key}`
      }
    }
    const problems = [
      ...(damaged === 0 ? [] : [`${damaged} stored values fail their checksum (the first: ${first})`]),
      ...(chain.broken === 0
        ? []
        : [`${chain.broken} log entries do not follow the entry before them (the first: ${chain.firstBreak})`]),
      ...(cutShort === 0 ? [] : [`${cutShort} shapes' logs or snapshots are cut short (the first: ${firstCut})`]),
    ]
    return problems.length === 0 ? undefined : problems.join('; ')
  } finally {
    env.close()
  }
}

/** Follows the log in key order: each shape's entries must chain from 0_0, each to the one before. */
class ChainCheck {
  broken = 0
  firstBreak: string | undefined
  #shapeId = -1
  #last = LogOffset.FIRST
  /** Each shape's last log entry (its last transaction's last offset: the entry's key). */
  readonly #ends = new Map<number, LogOffset>()

  lastOf(shapeId: number): LogOffset | undefined {
    return this.#ends.get(shapeId)
  }

  next(key: Buffer, value: Buffer): void {
    const shapeId = key.readUInt32BE(0)
    const expected = shapeId === this.#shapeId ? this.#last : LogOffset.FIRST
    const previous = previousEntry(value, readU64(key, 4))
    this.#shapeId = shapeId
    this.#last = LogOffset.of(readU64(key, 4), readU64(key, 12))
    this.#ends.set(shapeId, this.#last)
    // Entries of data format 2 name none.
    if (previous === null || previous.equals(expected)) return
    this.broken++
    this.firstBreak ??= `shape ${shapeId}: ${this.#last} names ${previous}, the entry before it is ${expected}`
  }
}
