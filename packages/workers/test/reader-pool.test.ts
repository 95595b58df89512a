// Proves the reader pool, on real piscina threads and real LMDB, answers byte for byte what readLogJson answers inline, sees a commit made on another thread at once, keeps error codes across the thread boundary, and lets the process exit after close().
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import {
  Catalog,
  type Engine,
  EngineError,
  LogOffset,
  openEngine,
  PartitionStores,
  readLogJson,
} from '@shapestore/engine'
import { ReaderPool, type ReadLogJsonRequest } from '../src/reader-pool.ts'
import { startWorker } from '../src/thread-entry.ts'
import { giveUp, type WarmUpBarrier, warmUpBarrier } from '../src/warm-up-barrier.ts'
import { workerRuntime } from '../src/worker-runtime.ts'

const PARTITIONS = 2
const MAP_BYTES = 1 << 30

/** One transaction's items at tx, ops 0, 2, 4 ... with multi-byte UTF-8 in the JSON. */
function txItems(tx: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    offset: `${tx}_${2 * i}`,
    key: `"public"."t"/"${tx}-${i}"`,
    op: 'insert' as const,
    json: JSON.stringify({ tx, i, text: 'é😀,]', pad: 'x'.repeat(37 * i) }),
  }))
}

interface Fixture {
  readonly dir: string
  readonly engine: Engine
  readonly handle: string
  readonly partition: number
  readonly shapeId: number
  /** n of the snapshot's last chunk `0_n`, as the read path knows it. */
  readonly lastChunk: number
  /** Rows in the snapshot and the log. */
  readonly rows: number
}

/** An engine on a fresh directory with one shape: a snapshot of several chunks, then a log. */
async function fixture(runtime?: ReturnType<typeof workerRuntime>): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-readers-'))
  const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 300, runtime })
  const { handle } = await engine.getOrCreateShape({ table: 'items' })
  const snapshot = Array.from({ length: 20 }, (_, i) => JSON.stringify({ s: i, pad: 'y'.repeat(11 * i) }))
  const last = await engine.makeNewSnapshot(handle, snapshot)
  let rows = snapshot.length
  for (let tx = 1; tx <= 30; tx++) {
    await engine.appendToLog(handle, txItems(tx * 10, 1 + (tx % 4)))
    rows += 1 + (tx % 4)
  }
  const catalog = Catalog.open(dir, { partitions: PARTITIONS, mapSizeBytes: MAP_BYTES })
  const entry = catalog.entry(handle)
  await catalog.close()
  assert.ok(entry !== undefined)
  return { dir, engine, handle, partition: entry.partition, shapeId: entry.shapeId, lastChunk: last.op, rows }
}

function requestOf(f: Fixture, since: string, upTo: string, lastSnapshotChunk: number | null): ReadLogJsonRequest {
  return {
    dir: f.dir,
    partitionMapBytes: MAP_BYTES,
    partition: f.partition,
    shapeId: f.shapeId,
    since,
    upTo,
    lastSnapshotChunk,
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<EngineError> {
  let caught: unknown
  await assert.rejects(promise, (error: unknown) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof EngineError, `expected an EngineError, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  return caught
}

describe('ReaderPool', () => {
  let f: Fixture
  let pool: ReaderPool

  before(async () => {
    f = await fixture()
    pool = new ReaderPool({ readers: 2 })
  })

  after(async () => {
    await pool.close()
    await f.engine.close()
    rmSync(f.dir, { recursive: true, force: true })
  })

  test('answers equal the inline readLogJson over a sample of ranges, and start() makes it ready', async () => {
    assert.equal(pool.threads, 0, 'no thread before the first read or start()')
    await pool.start()
    assert.equal(pool.ready, true)
    assert.equal(pool.threads, 2)
    const { lastChunk } = f
    assert.ok(lastChunk >= 3, 'the snapshot spans several chunks')
    const offsets = [
      '-1',
      '0_0',
      '0_1',
      `0_${lastChunk}`,
      '0_inf',
      '10_0',
      '50_2',
      '150_0',
      '151_0',
      '300_inf',
      '999_0',
    ]
    const stores = new PartitionStores(f.dir, { mapSizeBytes: MAP_BYTES })
    try {
      const store = stores.get(f.partition)
      const reads: Array<Promise<void>> = []
      for (const since of offsets) {
        for (const upTo of offsets) {
          const inline = readLogJson(store, f.shapeId, LogOffset.parse(since), LogOffset.parse(upTo), lastChunk)
          reads.push(
            pool.readLogJson(requestOf(f, since, upTo, lastChunk)).then((answer) => {
              assert.ok(Buffer.isBuffer(answer))
              assert.ok(answer.equals(inline), `${since} ${upTo}: ${answer.length} bytes vs ${inline.length} inline`)
            }),
          )
        }
      }
      await Promise.all(reads)
      const all = JSON.parse((await pool.readLogJson(requestOf(f, '-1', '999_0', lastChunk))).toString('utf8'))
      assert.equal(all.length, f.rows)
    } finally {
      await stores.close()
    }
  })

  test('errors come back with their code', async () => {
    const { lastChunk } = f
    await rejectsWithCode(pool.readLogJson(requestOf(f, 'not-an-offset', '10_0', lastChunk)), 'INVALID_OFFSET')
    await rejectsWithCode(pool.readLogJson(requestOf(f, '-1', '10_0', null)), 'SNAPSHOT_INCOMPLETE')
    // Not an EngineError in the thread (mkdir under a file: ENOTDIR): still a coded error here.
    const file = join(f.dir, 'a-file')
    writeFileSync(file, '')
    const error = await rejectsWithCode(
      pool.readLogJson({ ...requestOf(f, '-1', '10_0', lastChunk), dir: file }),
      'STORAGE_ERROR',
    )
    assert.match(error.message, /ENOTDIR/)
  })
})

describe('ReaderPool saturation', () => {
  test('reads issued in one turn, each after `saturated` said no, are all answered: saturated counts them', async () => {
    const f = await fixture()
    const pool = new ReaderPool({ readers: 1, queueMax: 2 })
    try {
      await pool.start()
      const reads: Array<Promise<Buffer>> = []
      // One synchronous stretch, as a request handler that reads many shapes would run.
      while (!pool.saturated && reads.length < 50)
        reads.push(pool.readLogJson(requestOf(f, '-1', '999_0', f.lastChunk)))
      assert.equal(reads.length, 3, 'one on the thread and two queued, then saturated')
      const answers = await Promise.allSettled(reads)
      assert.deepEqual(
        answers.filter((answer) => answer.status === 'rejected').map((answer) => String(answer.reason)),
        [],
      )
      assert.equal(pool.saturated, false, 'free again once they are answered')
    } finally {
      await pool.close()
      await f.engine.close()
      rmSync(f.dir, { recursive: true, force: true })
    }
  })
})

describe('ReaderPool visibility', () => {
  test('a read right after a commit on a writer thread sees it, in a reader thread and inline', async () => {
    const f = await fixture(workerRuntime({ writers: 1 }))
    const pool = new ReaderPool({ readers: 1 })
    const stores = new PartitionStores(f.dir, { mapSizeBytes: MAP_BYTES })
    try {
      const store = stores.get(f.partition)
      for (let tx = 1000; tx < 1020; tx++) {
        const since = f.engine.fetchLatestOffset(f.handle)
        // Opens this thread's read transaction before the commit, as a busy main thread would have.
        readLogJson(store, f.shapeId, LogOffset.BEFORE_ALL, since, f.lastChunk)
        await f.engine.appendToLog(f.handle, txItems(tx, 2))
        const upTo = f.engine.fetchLatestOffset(f.handle)
        assert.equal(upTo.toString(), `${tx}_2`)
        const expected = [`${tx}_0`, `${tx}_1`]
        const inline = readLogJson(store, f.shapeId, since, upTo, f.lastChunk)
        const pooled = await pool.readLogJson(requestOf(f, since.toString(), upTo.toString(), f.lastChunk))
        for (const answer of [inline, pooled]) {
          const rows = JSON.parse(answer.toString('utf8')) as Array<{ tx: number; i: number }>
          assert.deepEqual(
            rows.map((row) => `${row.tx}_${row.i}`),
            expected,
            answer === inline ? 'inline' : 'pool',
          )
        }
      }
    } finally {
      await stores.close()
      await pool.close()
      await f.engine.close()
      rmSync(f.dir, { recursive: true, force: true })
    }
  })

  test('a reader thread whose read transaction is still open sees a commit made since (no timer tick in between)', async () => {
    // Deterministic: the task runs twice in one synchronous stretch of a thread, parked in
    // Atomics.wait while the main thread commits, so lmdb-js' own renewal timer cannot fire.
    const f = await fixture()
    const flag = new Int32Array(new SharedArrayBuffer(4))
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      ;(async () => {
        const { default: read } = await import(workerData.bootstrap)
        const { valueSymbol } = await import(workerData.piscina)
        const text = (moved) => (moved[valueSymbol] === undefined ? JSON.stringify(moved) : Buffer.from(moved[valueSymbol]).toString('utf8'))
        const first = text(await read(workerData.first))
        Atomics.store(workerData.flag, 0, 1)
        Atomics.notify(workerData.flag, 0)
        Atomics.wait(workerData.flag, 0, 1)
        const second = text(await read(workerData.second))
        parentPort.postMessage({ first, second })
      })()`
    const worker = new Worker(code, {
      eval: true,
      workerData: {
        bootstrap: new URL('../src/reader-task-bootstrap.mjs', import.meta.url).href,
        piscina: import.meta.resolve('piscina'),
        flag,
        first: requestOf(f, '300_inf', '999_0', f.lastChunk),
        second: requestOf(f, '300_inf', '999_0', f.lastChunk),
      },
    })
    try {
      const result = new Promise<{ first: string; second: string }>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      // The main thread must stay free to commit: poll rather than block in Atomics.wait.
      while (Atomics.load(flag, 0) !== 1) await delay(1)
      await f.engine.appendToLog(f.handle, txItems(500, 1))
      Atomics.store(flag, 0, 2)
      Atomics.notify(flag, 0)
      const { first, second } = await result
      assert.equal(first, '[]')
      assert.deepEqual(JSON.parse(second), [JSON.parse(txItems(500, 1)[0]?.json as string)])
    } finally {
      await worker.terminate()
      await f.engine.close()
      rmSync(f.dir, { recursive: true, force: true })
    }
  })
})

describe('ReaderPool lifecycle', () => {
  test('reads in flight at close() finish; later reads are ENGINE_CLOSED; no thread is left', async () => {
    const f = await fixture()
    const pool = new ReaderPool({ readers: 2 })
    try {
      const inFlight = Array.from({ length: 8 }, () => pool.readLogJson(requestOf(f, '-1', '999_0', f.lastChunk)))
      const closing = pool.close()
      await rejectsWithCode(pool.readLogJson(requestOf(f, '-1', '999_0', f.lastChunk)), 'ENGINE_CLOSED')
      for (const answer of await Promise.all(inFlight)) assert.ok(answer.length > 1000)
      await closing
      assert.equal(pool.threads, 0)
      assert.equal(pool.ready, false)
      await rejectsWithCode(pool.readLogJson(requestOf(f, '-1', '999_0', f.lastChunk)), 'ENGINE_CLOSED')
      await rejectsWithCode(pool.start(), 'ENGINE_CLOSED')
    } finally {
      await pool.close()
      await f.engine.close()
      rmSync(f.dir, { recursive: true, force: true })
    }
  })

  // A thread terminated while it loads lmdb's addon aborts the process (docs/reliability.md);
  // piscina's own close terminates threads that are still loading.
  test('close() right after start() lets every thread finish loading before stopping it', async () => {
    const pool = new ReaderPool({ readers: 3 })
    const started = pool.start()
    await pool.close()
    // Resolved, not rejected: all three warm-ups ran to the end, one on each thread (each
    // holds its thread until the three have arrived), before the threads were stopped.
    await started
    assert.equal(pool.threads, 0)
  })

  test('a process that used the pool exits on its own after close()', async () => {
    const f = await fixture()
    await f.engine.close()
    try {
      // A program of its own (a file, as a server is): `node --eval` parents pass --input-type
      // to their threads, which then refuse to start.
      const program = join(f.dir, 'use-pool-then-close.mjs')
      const request = requestOf(f, '-1', '999_0', f.lastChunk)
      writeFileSync(
        program,
        `import { ReaderPool } from ${JSON.stringify(new URL('../src/reader-pool.ts', import.meta.url).href)}
        const pool = new ReaderPool({ readers: 2 })
        const answer = await pool.readLogJson(${JSON.stringify(request)})
        await pool.close()
        const after = await pool.readLogJson(${JSON.stringify(request)}).catch((error) => error.code)
        console.log(JSON.parse(answer.toString('utf8')).length, after)`,
      )
      // A liveness bound, not a timing assertion: a process kept alive by the pool never exits.
      const run = spawnSync(process.execPath, ['--import', 'tsx', program], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(run.signal, null, 'the process had to be killed: something kept it alive after close()')
      assert.equal(run.status, 0, run.stderr)
      assert.equal(run.stdout.trim(), `${f.rows} ENGINE_CLOSED`)
    } finally {
      rmSync(f.dir, { recursive: true, force: true })
    }
  })
})

describe('ReaderPool start barrier', () => {
  // Real threads in Atomics.wait: the barrier is what start() and close() rely on.
  const waitIn = (barrier: WarmUpBarrier) =>
    new Promise<boolean>((resolve, reject) => {
      const worker = startWorker(new URL('./fixtures/warm-up-waiter.ts', import.meta.url), { workerData: barrier })
      worker.once('message', (value: boolean) => resolve(value))
      worker.once('error', reject)
    })

  // The warm-ups' own timeout is far beyond the test's: only giveUp can end the second pair in time.
  test('warm-ups end together once all arrived, and all answer false when the pool gives up', {
    timeout: 20_000,
  }, async () => {
    const all = warmUpBarrier(2, 30_000)
    assert.deepEqual(await Promise.all([waitIn(all), waitIn(all)]), [true, true])
    const abandoned = warmUpBarrier(3, 600_000)
    const waiting = [waitIn(abandoned), waitIn(abandoned)]
    await delay(200)
    giveUp(abandoned)
    assert.deepEqual(await Promise.all(waiting), [false, false])
  })
})
