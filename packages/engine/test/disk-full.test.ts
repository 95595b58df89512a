/**
 * A full disk, for real: each run mounts a 4 MiB tmpfs in a private mount namespace
 * (`unshare --user --map-root-user --mount`: no root needed where unprivileged user namespaces
 * are allowed; skipped, saying why, where they are not) and fills it through the engine
 * (fixtures/disk-full-child.ts). Claims, on both runtimes:
 *  - the append that does not fit fails with STORAGE_FULL, whose message tells the operator what
 *    to do; so does the next one, and a shape creation (the catalog is on the same disk);
 *  - nothing acknowledged is lost and nothing of the failed append is visible: the latest offset
 *    and the log end at the last acknowledged transaction; reads keep working;
 *  - once room is made (a file deleted), appends and creations succeed again on the same engine,
 *    and a reopen finds everything.
 * LMDB's map is not what fills: lmdb-js grows it by itself (see storage-failure.ts).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ErrorCode } from '../src/index.ts'
import { SYNC_COMMIT_ITEMS_MAX } from '../src/limits.ts'
import { tempDir } from './helpers.ts'

const CHILD = fileURLToPath(new URL('./fixtures/disk-full-child.ts', import.meta.url))
const ENGINE_DIR = fileURLToPath(new URL('..', import.meta.url))
const MOUNT = ['unshare', '--user', '--map-root-user', '--mount']

const probe = spawnSync(MOUNT[0] as string, [...MOUNT.slice(1), 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /tmp'], {
  encoding: 'utf8',
})
const skip =
  probe.status === 0 ? false : `cannot mount a small tmpfs here (${probe.error?.message ?? probe.stderr.trim()})`

// Small transactions commit synchronously, big ones on lmdb-js' write thread (PartitionWriter):
// the disk fills on either path.
const COMMITS = [
  { path: 'small commits', items: 10, padBytes: 2000 },
  { path: 'commits on the write thread', items: SYNC_COMMIT_ITEMS_MAX, padBytes: 60 },
] as const

for (const runtime of ['inline', 'worker'] as const)
  for (const { path, items, padBytes } of COMMITS) {
    const lastOp = 2 * (items - 1)
    test(`a full disk (${runtime} runtime, ${path}): STORAGE_FULL, nothing acknowledged lost, reads work, writes resume`, {
      skip,
      timeout: 120_000,
    }, (t) => {
      const { dir, cleanup } = tempDir()
      try {
        const mount = join(dir, 'mnt')
        mkdirSync(mount)
        const script = 'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" --import tsx "$3" "$1" "$4" "$5" "$6"'
        const child = spawnSync(
          MOUNT[0] as string,
          [
            ...MOUNT.slice(1),
            'sh',
            '-c',
            script,
            'sh',
            mount,
            process.execPath,
            CHILD,
            runtime,
            String(items),
            String(padBytes),
          ],
          { cwd: ENGINE_DIR, encoding: 'utf8', timeout: 110_000 },
        )
        assert.equal(child.signal, null, `the child crashed (${child.signal}):\n${child.stderr}`)
        assert.equal(child.status, 0, `the child failed:\n${child.stderr}`)
        const r = JSON.parse(child.stdout.trim().split('\n').at(-1) as string)
        const acked = r.acked as number
        t.diagnostic(
          `${acked} appends of ${items} x ${padBytes} B acknowledged before the disk was full: ${r.full.message}`,
        )
        assert.ok(acked > 10, `only ${acked} appends fit on a 4 MiB disk`)
        assert.equal(r.full.code, ErrorCode.STORAGE_FULL, JSON.stringify(r.full))
        assert.match(r.full.message, /no room left on the disk holding .* free space on that disk/)
        // Nothing acknowledged lost, nothing of the failed append visible.
        assert.equal(r.latestWhenFull, `${acked}_${lastOp}`)
        assert.equal(r.persistedWhenFull, `${acked}_${lastOp}`)
        assert.deepEqual(r.rowsWhenFull, { count: acked * items, lastTx: acked })
        assert.equal(r.againWhenFull.code, ErrorCode.STORAGE_FULL, JSON.stringify(r.againWhenFull))
        assert.equal(r.createWhenFull.code, ErrorCode.STORAGE_FULL, JSON.stringify(r.createWhenFull))
        // Room made: the same engine writes again; a reopen finds everything.
        assert.deepEqual(r.resumed, { ok: true })
        assert.deepEqual(r.resumedNext, { ok: true })
        assert.deepEqual(r.createAfterRoom, { ok: true })
        assert.equal(r.latestAfterReopen, `${acked + 2}_${lastOp}`)
        assert.deepEqual(r.rowsAfterReopen, { count: (acked + 2) * items, lastTx: acked + 2 })
      } finally {
        cleanup()
      }
    })
  }
