/**
 * A full disk under an idempotent producer, for real: the server runs in its own process on a
 * 12 MiB tmpfs mounted in a private mount namespace (`unshare --user --map-root-user --mount`;
 * skipped, saying why, where unprivileged user namespaces are not allowed), and four idempotent
 * producers append to one stream, one append in flight each (each also saves the stream's record),
 * until the disk has refused each of them once. Claims:
 *  - the server lives on: a failed commit of its own records is an error answer, not the
 *    unhandled second rejection lmdb-js makes (which ends a Node 20 process);
 *  - every append answered 200 or 204 is in the stream, in its producer's order, and nothing
 *    that was not (a write that failed must not let a later append reuse the transaction number
 *    of one still in flight, which the engine would skip as a replay; a failed append's producer
 *    state must not reach the disk with another request's record save, or its retry would be
 *    answered 204 for data that is not there);
 *  - twice only the refused append whose data committed before its record save failed, and
 *    whose retry was taken: the protocol's non-atomic case, as after a crash between the two.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readMessages, tempDir } from './helpers.ts'

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const MOUNT = ['unshare', '--user', '--map-root-user', '--mount']
const PRODUCERS = 4
const MESSAGE_BYTES = 4 * 1024

const probe = spawnSync(MOUNT[0] as string, [...MOUNT.slice(1), 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /tmp'], {
  encoding: 'utf8',
})
const skip =
  probe.status === 0 ? false : `cannot mount a small tmpfs here (${probe.error?.message ?? probe.stderr.trim()})`

/** The server on a fresh small tmpfs at `mount`; resolves with its URL once it listens. */
async function startOnTmpfs(mount: string, writers: number): Promise<{ url: string; child: ChildProcess }> {
  const script =
    'mount -t tmpfs -o size=12m tmpfs "$1" && exec "$2" --import tsx "$3" --dir "$1" --port 0 --writers "$4"'
  const child = spawn(
    MOUNT[0] as string,
    [...MOUNT.slice(1), 'sh', '-c', script, 'sh', mount, process.execPath, MAIN, String(writers)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)))
  })
  return { url, child }
}

for (const writers of [0, 1]) {
  const runtime = writers === 0 ? 'inline' : 'worker'
  test(`${runtime} runtime: a full disk under a pipelining producer loses no acknowledged append and doubles none`, {
    skip,
    timeout: 120_000,
  }, async () => {
    const { dir, cleanup } = tempDir()
    const mount = join(dir, 'mnt')
    mkdirSync(mount)
    const { url, child } = await startOnTmpfs(mount, writers)
    let exited: number | null = null
    child.once('exit', (code) => {
      exited = code ?? -1
    })
    try {
      const s = `${url}/v1/stream/filling`
      const json = { 'content-type': 'application/json' }
      assert.equal((await fetch(s, { method: 'PUT', headers: json })).status, 201)
      const pad = 'x'.repeat(MESSAGE_BYTES)
      const append = (producer: number, seq: number) =>
        fetch(s, {
          method: 'POST',
          headers: { ...json, 'producer-id': `p${producer}`, 'producer-epoch': '0', 'producer-seq': String(seq) },
          body: JSON.stringify({ producer, seq, pad }),
        })
      // PRODUCERS producers, each with one append in flight (a producer's appends must arrive in
      // order), until the disk refuses one; each append also saves the stream's record.
      const acknowledged: number[][] = Array.from({ length: PRODUCERS }, () => [])
      const refused: { producer: number; seq: number }[] = []
      const produce = async (producer: number) => {
        for (let seq = 0; exited === null; seq++) {
          const res = await append(producer, seq)
          await res.arrayBuffer()
          if (res.status === 200) acknowledged[producer]?.push(seq)
          else if (res.status === 507) return void refused.push({ producer, seq })
          else assert.fail(`producer ${producer}, append ${seq}: ${res.status}`)
        }
      }
      await Promise.all(Array.from({ length: PRODUCERS }, (_, producer) => produce(producer)))
      assert.equal(exited, null, 'the server is still running')
      assert.equal(refused.length, PRODUCERS)

      // A retry of a refused append: refused again while the disk is full, or taken; never
      // answered as a duplicate of data that is not there (checked below).
      const first = refused[0] as { producer: number; seq: number }
      const again = await append(first.producer, first.seq)
      assert.ok([200, 204, 507].includes(again.status), `retry: ${again.status}`)
      if (again.status !== 507) acknowledged[first.producer]?.push(first.seq)

      const messages = (await readMessages(s)) as { producer: number; seq: number }[]
      for (let producer = 0; producer < PRODUCERS; producer++) {
        const stored = messages.filter((message) => message.producer === producer).map((message) => message.seq)
        const acked = acknowledged[producer] as number[]
        const refusedSeq = refused.find((r) => r.producer === producer)?.seq
        assert.deepEqual(
          stored,
          [...stored].sort((x, y) => x - y),
          `producer ${producer}: in order`,
        )
        for (const seq of acked) assert.ok(stored.includes(seq), `producer ${producer}: acknowledged ${seq} is stored`)
        for (const [i, seq] of stored.entries()) {
          assert.ok(acked.includes(seq) || seq === refusedSeq, `producer ${producer}: ${seq} was never acknowledged`)
          // Twice only where the data committed but the record save after it did not: the
          // producer state is committed after the data (README, Guarantees), so its retry is taken.
          if (i > 0 && stored[i - 1] === seq) assert.equal(seq, refusedSeq, `producer ${producer}: ${seq} stored twice`)
        }
      }
    } finally {
      child.kill('SIGKILL')
      cleanup()
    }
  })
}
