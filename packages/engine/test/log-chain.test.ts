// Proves the log's chain (record-layout.ts): each stored log entry names the shape's entry before
// it, so a read notices an entry missing from the middle or the start of what it reads (a
// damaged branch page can make LMDB's scan skip a leaf; here entries are deleted behind the
// engine's back): STORAGE_CORRUPT naming the file and the shape, streamed and as JSON, never a
// shorter answer. A read that starts after the gap does not meet it and is exact, and
// shapestore-verify finds the gap. Entries of data format 2, which carry no chain, still read.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { open } from 'lmdb'
import { type Engine, EngineError, ErrorCode, openEngine } from '../src/index.ts'
import { verifyStore } from '../src/integrity/verify-store.ts'
import { LogOffset } from '../src/log-offset.ts'
import { chainEntry, previousEntry, sharedRefKey } from '../src/log-store/log-record.ts'
import { CHAIN_LONG_BYTES, CHAIN_SHORT, CHAIN_SHORT_BYTES } from '../src/log-store/record-layout.ts'
import { seal } from '../src/log-store/value-seal.ts'
import { fuzzParameters } from './fuzz-parameters.ts'
import { collect, tempDir, txItems } from './helpers.ts'

const SHAPES = 4
const TRANSACTIONS = 6

/** Shapes 1..SHAPES in partition 0: transactions 1, 2, 4, 5, 6 their own, 3 one shared record (a reference each). */
async function makeStore(dir: string): Promise<{ handles: string[]; rows: string[][] }> {
  const engine = await openEngine({ dir, partitions: 1 })
  try {
    const handles: string[] = []
    for (let i = 0; i < SHAPES; i++) {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `i = ${i}` })
      await engine.makeNewSnapshot(handle, [])
      handles.push(handle)
    }
    for (let t = 1; t <= TRANSACTIONS; t++) {
      if (t === 3) {
        const items = txItems(t, 2, 'shared')
        await engine.appendToLogs(handles.map((handle) => ({ handle, items })))
      } else {
        for (const [i, handle] of handles.entries()) await engine.appendToLog(handle, txItems(t, 2, `own${i}`))
      }
    }
    const rows = await Promise.all(handles.map((handle) => collect(engine.getLogStream(handle, '-1'))))
    return { handles, rows }
  } finally {
    await engine.close()
  }
}

/** Runs `edit` on the log entries of shape `shapeId` (keys in order) in partition 0's log database. */
async function editLog(
  dir: string,
  shapeId: number,
  edit: (log: ReturnType<typeof logDb>, keys: Buffer[]) => void,
): Promise<void> {
  const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
  try {
    const log = logDb(env)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(shapeId)
    const keys = [...log.getKeys({ start: prefix, end: Buffer.concat([prefix, Buffer.alloc(16, 0xff)]) })]
    assert.equal(keys.length, TRANSACTIONS, `shape ${shapeId}: one entry per transaction`)
    env.transactionSync(() => edit(log, keys))
  } finally {
    await env.close()
  }
}

function logDb(env: ReturnType<typeof open>) {
  return env.openDB<Buffer, Buffer>({ name: 'log', encoding: 'binary', keyEncoding: 'binary' })
}

/** The offset `tx_op` of the last row of transaction `t` (txItems(t, 2): rows t_0 and t_2). */
const lastOf = (t: number) => `${t}_2`

async function assertCorrupt(read: () => Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(read(), (error: unknown) => {
    assert.ok(error instanceof EngineError, `${what}: ${String(error)}`)
    assert.equal(error.code, ErrorCode.STORAGE_CORRUPT, `${what}: ${error.message}`)
    assert.match(error.message, /partitions\/0\/data\.mdb: the data of shape \d+ is damaged/, what)
    return true
  })
}

/** Both reads of `handle` from `since`, each as the list of row strings. */
function reads(engine: Engine, handle: string, since: string): Array<[string, () => Promise<string[]>]> {
  return [
    ['stream', () => collect(engine.getLogStream(handle, since))],
    [
      'json',
      async () =>
        ((JSON.parse((await engine.getLogJson(handle, since)).toString()) as unknown[]) ?? []).map((row) =>
          JSON.stringify(row),
        ),
    ],
  ]
}

for (const [what, missingTx] of [
  ['the first entry', 1],
  ['an own record in the middle', 2],
  ['a shared record reference in the middle', 3],
] as const) {
  test(`${what} missing: reads that span it are STORAGE_CORRUPT, reads after it are exact`, async () => {
    const { dir, cleanup } = tempDir()
    try {
      const { handles, rows } = await makeStore(dir)
      await editLog(dir, 2, (log, keys) => log.removeSync(keys[missingTx - 1] as Buffer))
      const handle = handles[1] as string
      const engine = await openEngine({ dir, partitions: 1 })
      try {
        const spanning = ['-1', '0_inf', ...(missingTx > 1 ? [lastOf(missingTx - 1), `${missingTx - 1}_0`] : [])]
        for (const since of spanning) {
          for (const [kind, read] of reads(engine, handle, since)) await assertCorrupt(read, `${kind} from ${since}`)
        }
        // From the missing transaction's last row on, the gap is behind the read.
        const after = (rows[1] as string[]).slice(2 * missingTx)
        for (const [kind, read] of reads(engine, handle, lastOf(missingTx))) {
          assert.deepEqual(await read(), after, `${kind} from ${lastOf(missingTx)}`)
        }
        // The other shapes lost nothing (the shared record is still there for them).
        for (const i of [0, 2, 3]) {
          for (const [kind, read] of reads(engine, handles[i] as string, '-1')) {
            assert.deepEqual(await read(), rows[i], `${kind} of shape ${i + 1}`)
          }
        }
      } finally {
        await engine.close()
      }
      // shapestore-verify finds the gap too.
      const flagged = verifyStore(dir).filter(({ problem }) => problem !== undefined)
      assert.equal(flagged.length, 1)
      assert.match(flagged[0]?.problem ?? '', /1 log entries do not follow the entry before them/)
    } finally {
      cleanup()
    }
  })
}

test('entries of data format 2 (no chain) read as before', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const { handles, rows } = await makeStore(dir)
    // Every entry of shape 1 rewritten as format 2 wrote it: chain cut off, sealed again.
    await editLog(dir, 1, (log, keys) => {
      for (const key of keys) {
        const entry = log.getBinary(key) as Buffer
        const chain = entry[entry.length - 1] === CHAIN_SHORT ? CHAIN_SHORT_BYTES : CHAIN_LONG_BYTES
        const unchained = Buffer.from(entry.subarray(0, entry.length - chain))
        seal(key, unchained)
        log.putSync(key, unchained)
      }
    })
    const engine = await openEngine({ dir, partitions: 1 })
    try {
      for (const since of ['-1', lastOf(2), lastOf(3)]) {
        for (const [kind, read] of reads(engine, handles[0] as string, since)) {
          const expected = (rows[0] as string[]).slice(since === '-1' ? 0 : 2 * Number(since.split('_')[0]))
          assert.deepEqual(await read(), expected, `${kind} from ${since}`)
        }
      }
    } finally {
      await engine.close()
    }
    assert.deepEqual(
      verifyStore(dir).filter(({ problem }) => problem !== undefined),
      [],
      'shapestore-verify finds nothing wrong',
    )
    // The rewritten reference is format 2's 16 bytes, and still a reference.
    await editLog(dir, 1, (log, keys) => {
      const reference = log.getBinary(keys[2] as Buffer) as Buffer
      assert.equal(reference.length, 16)
      assert.ok(sharedRefKey(reference) !== null)
    })
  } finally {
    cleanup()
  }
})

test('a chain names exactly the entry before, in its short form when it fits, else its long form', () => {
  const { seed, path, runs } = fuzzParameters('LOG_CHAIN', 500)
  const part = fc.oneof(fc.nat(1000), fc.nat(2 ** 32 + 1000), fc.maxSafeNat())
  fc.assert(
    fc.property(part, part, fc.nat(2 ** 33), fc.boolean(), (tx, op, gap, first) => {
      // A shape's last offset is 0_inf before its first entry, then a real one (tx > 0).
      const previous = first ? LogOffset.LAST_BEFORE_REAL : LogOffset.of(Math.max(tx, 1), op)
      const keyTx = Math.min(Number.MAX_SAFE_INTEGER, (first ? 0 : previous.tx) + gap + 1)
      const room = Buffer.alloc(40 + CHAIN_LONG_BYTES, 7)
      const stored = chainEntry(room, keyTx, previous)
      const named = first ? LogOffset.FIRST : previous
      const short = keyTx - named.tx < 2 ** 32 && named.op < 2 ** 32
      assert.equal(stored.length, short ? room.length - CHAIN_LONG_BYTES + CHAIN_SHORT_BYTES : room.length)
      assert.ok(
        stored.subarray(0, 40).every((byte) => byte === 7),
        'the entry itself is untouched',
      )
      assert.deepEqual(previousEntry(stored, keyTx), named)
    }),
    { seed, numRuns: runs, ...(path ? { path } : {}) },
  )
})

test('a gap is found with offsets like Postgres LSNs (both chain forms)', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    // The first entry (2^40 after 0_0) and the one after a 2^33 gap take the long form.
    const txs = [2 ** 40, 2 ** 40 + 1, 2 ** 40 + 2 ** 33, 2 ** 40 + 2 ** 33 + 5]
    for (const tx of txs) await engine.appendToLog(handle, txItems(tx, 2))
    const rows = await collect(engine.getLogStream(handle, '-1'))
    await engine.close()
    const env = open({ path: join(dir, 'partitions', '0'), maxDbs: 8 })
    try {
      const log = logDb(env)
      const forms = [...log.getRange({})].map(({ value }) => value[value.length - 1] === CHAIN_SHORT)
      assert.deepEqual(forms, [false, true, false, true], 'short forms where they fit')
      env.transactionSync(() => log.removeSync([...log.getKeys({})][2] as Buffer))
    } finally {
      await env.close()
    }
    const reopened = await openEngine({ dir, partitions: 1 })
    try {
      for (const since of ['-1', `${txs[1]}_2`]) {
        for (const [kind, read] of reads(reopened, handle, since)) await assertCorrupt(read, `${kind} from ${since}`)
      }
      for (const [kind, read] of reads(reopened, handle, `${txs[2]}_2`)) {
        assert.deepEqual(await read(), rows.slice(6), kind)
      }
    } finally {
      await reopened.close()
    }
  } finally {
    cleanup()
  }
})
