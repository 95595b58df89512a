/**
 * Fuzzes the append path's validation against an independent oracle. Transactions are built
 * valid, then some items get a field replaced by junk (fast-check `anything()`, malformed or
 * not-real offsets, repeated or decreasing offsets, oversized or non-UTF-8 keys, bad ops). The
 * oracle lists every documented rule the transaction breaks; the engine must then reject it with
 * one of those codes and write nothing, or, if it breaks none, append exactly the items after
 * the shape's last offset. model.test.ts covers the engine's whole behaviour with a few kinds of
 * bad item; this covers the validator's input space.
 *
 * Seeded and replayable: APPEND_FUZZ_SEED=<seed> [APPEND_FUZZ_PATH=<path>] [APPEND_FUZZ_RUNS=<n>]
 *   node --import tsx --test test/append-fuzz.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { EngineError, type ErrorCode, LogOffset, limits, openEngine } from '../src/index.ts'
import { fuzzParameters } from './fuzz-parameters.ts'
import { collect, tempDir } from './helpers.ts'

const MAX = BigInt(Number.MAX_SAFE_INTEGER)

/** The oracle's reading of an offset: [tx, op] (op null: inf), or the code it earns. */
function readOffset(value: unknown): readonly [bigint, bigint | null] | 'INVALID_OFFSET' {
  if (value instanceof LogOffset) {
    return [BigInt(value.tx), value.op === Number.POSITIVE_INFINITY ? null : BigInt(value.op)]
  }
  if (typeof value !== 'string') return 'INVALID_OFFSET'
  if (value === '-1') return [-1n, 0n]
  const match = /^([0-9]{1,20})_([0-9]{1,20}|inf)$/.exec(value)
  if (match === null) return 'INVALID_OFFSET'
  const tx = BigInt(match[1] as string)
  const op = match[2] === 'inf' ? null : BigInt(match[2] as string)
  if (tx > MAX || (op !== null && op > MAX)) return 'INVALID_OFFSET'
  return [tx, op]
}

const wellFormed = (s: string) => !/\p{Surrogate}/u.test(s)

/** Every rule the transaction breaks (empty: valid). */
function violations(items: readonly unknown[]): Set<ErrorCode> {
  const found = new Set<ErrorCode>()
  let previous: readonly [bigint, bigint] | null = null
  let bytes = 0
  for (const item of items) {
    if (typeof item !== 'object' || item === null) {
      found.add('INVALID_ITEM')
      continue
    }
    const { offset, key, op, json } = item as Record<string, unknown>
    const read = readOffset(offset)
    if (read === 'INVALID_OFFSET') found.add(read)
    else if (read[0] <= 0n || read[1] === null) found.add('INVALID_ITEM')
    else {
      if (previous !== null && (read[0] < previous[0] || (read[0] === previous[0] && read[1] <= previous[1]))) {
        found.add('OFFSET_OUT_OF_ORDER')
      }
      previous = [read[0], read[1]]
    }
    if (typeof key !== 'string' || typeof json !== 'string') found.add('INVALID_ITEM')
    if (op !== 'insert' && op !== 'update' && op !== 'delete') found.add('INVALID_ITEM')
    if (typeof key === 'string') {
      if (!wellFormed(key)) found.add('INVALID_ITEM')
      if (Buffer.byteLength(key) > limits.ITEM_KEY_BYTES_MAX) found.add('TOO_LARGE')
      bytes += Buffer.byteLength(key)
    }
    if (typeof json === 'string') {
      if (!wellFormed(json)) found.add('INVALID_ITEM')
      bytes += Buffer.byteLength(json)
    }
  }
  if (bytes > limits.TRANSACTION_BYTES_MAX) found.add('TOO_LARGE')
  return found
}

/** An appended item, as the model keeps it. */
interface Appended {
  readonly offset: LogOffset
  readonly json: string
}

const junkOffset = fc.oneof(
  fc.anything(),
  fc.constantFrom('', 'now', '_inf', '-1', '0_0', '0_7', '0_inf', '3_inf', '1_', '1.5_0', '-2', '9007199254740992_0'),
  fc.constantFrom('18446744073709551616_1', ' 1_1', '1_1\n', LogOffset.BEFORE_ALL, LogOffset.FIRST),
)
const junkKey = fc.oneof(
  fc.anything(),
  fc.constantFrom('k\uD800', '\uDC00', 'k'.repeat(limits.ITEM_KEY_BYTES_MAX + 1), '€'.repeat(1366)),
)
const junkJson = fc.oneof(fc.anything(), fc.constantFrom('"\uD83D"', '\uDFFF'))
const junkOp = fc.oneof(fc.anything(), fc.constantFrom('upsert', 'INSERT', 'toString', '__proto__', ['insert']))

/** How one item of a generated transaction is spoiled (or not). */
const spoil = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: junkOffset.map((value) => ({ kind: 'offset' as const, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'repeat' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'decrease' as const }) },
  { weight: 1, arbitrary: junkKey.map((value) => ({ kind: 'key' as const, value })) },
  { weight: 1, arbitrary: junkJson.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 1, arbitrary: junkOp.map((value) => ({ kind: 'op' as const, value })) },
  { weight: 1, arbitrary: fc.anything().map((value) => ({ kind: 'item' as const, value })) },
)

const transaction = fc.record({
  /** Start below the shape's last offset (a replay) by this many transactions, or after it. */
  back: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(3) }),
  items: fc.array(
    fc.record({
      step: fc.integer({ min: 1, max: 3 }),
      newTx: fc.boolean(),
      kind: fc.constantFrom('insert' as const, 'update' as const, 'delete' as const),
      text: fc.string({ unit: 'grapheme', maxLength: 12 }),
      spoil,
    }),
    { minLength: 1, maxLength: 8 },
  ),
})

const { seed, path, runs, describe } = fuzzParameters('APPEND_FUZZ', 150)

test(`append path: junk items are rejected with a rule they break, valid ones appended (${describe})`, async () => {
  const { dir, cleanup } = tempDir()
  const engine = await openEngine({ dir, partitions: 2 })
  let shapeNo = 0
  let rejected = 0
  let appended = 0
  try {
    const property = fc.asyncProperty(fc.array(transaction, { minLength: 1, maxLength: 6 }), async (txns) => {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `n = ${shapeNo++}` })
      const log: Appended[] = []
      let lsn = 1
      for (const spec of txns) {
        let tx = spec.back > 0 ? Math.max(1, lsn - spec.back) : lsn + 1
        let op = 0
        const sent: unknown[] = []
        for (const [i, it] of spec.items.entries()) {
          if (i > 0 && it.newTx) tx++
          op = i > 0 && !it.newTx ? op + it.step : it.step - 1
          const plain = {
            offset: `${tx}_${op}`,
            key: `k${tx}.${op}`,
            op: it.kind,
            json: JSON.stringify({ tx, op, t: it.text }),
          }
          const s = it.spoil
          if (s.kind === 'none') sent.push(plain)
          else if (s.kind === 'item') sent.push(s.value)
          else if (s.kind === 'repeat') sent.push(sent.at(-1) ?? plain, plain)
          else if (s.kind === 'decrease') sent.push(plain, { ...plain, offset: `${tx}_${Math.max(0, op - 1)}` })
          else sent.push({ ...plain, [s.kind]: s.value })
        }
        const broken = violations(sent)
        const before = await collect(engine.getLogStream(handle, '0_inf'))
        try {
          await engine.appendToLog(handle, sent as never)
        } catch (error) {
          assert.ok(error instanceof EngineError, `not an EngineError: ${String(error)}`)
          assert.ok(broken.has(error.code), `${error.code} (${error.message}) is not among ${[...broken].join(', ')}`)
          assert.deepEqual(await collect(engine.getLogStream(handle, '0_inf')), before, 'a rejected call wrote')
          rejected++
          continue
        }
        assert.equal(broken.size, 0, `accepted a transaction that breaks ${[...broken].join(', ')}`)
        // Valid: items after the last offset are appended, the rest skipped (a replay).
        for (const item of sent as Array<{ offset: string; json: string }>) {
          const at = LogOffset.from(item.offset)
          const last = log.at(-1)
          if (last === undefined || at.isAfter(last.offset)) log.push({ offset: at, json: item.json })
        }
        lsn = Math.max(lsn, log.at(-1)?.offset.tx ?? lsn)
        appended++
        assert.deepEqual(
          await collect(engine.getLogStream(handle, '0_inf')),
          log.map((item) => item.json),
        )
      }
      await engine.removeShape(handle)
    })
    const details = await fc.check(property, { seed, numRuns: runs, ...(path ? { path } : {}) })
    if (details.failed) {
      assert.fail(
        `${fc.defaultReportMessage(details)}\nReplay: APPEND_FUZZ_SEED=${details.seed} APPEND_FUZZ_PATH=${details.counterexamplePath}`,
      )
    }
    console.log(`append fuzz: ${rejected} transactions rejected, ${appended} appended (${describe})`)
  } finally {
    await engine.close()
    cleanup()
  }
})
