// Proves damage LMDB itself meets in a page during a read is STORAGE_CORRUPT naming the file and
// the shape, not LMDB's uncoded error: the branch pages of a partition's log tree are made to
// point past the end of the file (MDB_PAGE_NOTFOUND when a read follows them), then the shape is
// read streamed, as JSON, and through a read-path miss.
import assert from 'node:assert/strict'
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { EngineError, ErrorCode, openEngine } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

// The page layout of lmdb-js' LMDB (src/integrity/lmdb-header.ts): a 24-byte header (pgno u64,
// txnid u64, pad u16, flags u16, lower u16, upper u16), node offsets after it, relative to its end.
const PAGE = 4096
const HEADER = 24
const P_BRANCH = 0x01

/** Points the last child of every branch page in `file` past the file's end; returns how many pages it changed. */
function breakBranchPages(file: string): number {
  const fd = openSync(file, 'r+')
  try {
    const pages = fstatSync(fd).size / PAGE
    const page = Buffer.alloc(PAGE)
    let changed = 0
    for (let pgno = 2; pgno < pages; pgno++) {
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      if ((page.readUInt16LE(18) & P_BRANCH) === 0) continue
      const nodes = page.readUInt16LE(20) / 2
      const last = HEADER + page.readUInt16LE(HEADER + 2 * (nodes - 1))
      page.writeUInt16LE(0xffff, last) // the child's page number, low 16 bits
      page.writeUInt16LE(0x00ff, last + 2) // and the next 16: page 2^24 - 1
      writeSync(fd, page, 0, PAGE, pgno * PAGE)
      changed++
    }
    return changed
  } finally {
    closeSync(fd)
  }
}

test('a page LMDB cannot follow, met by a read, is STORAGE_CORRUPT naming the file and the shape', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    // Enough log records for a tree of two levels: a branch root over many leaves.
    for (let t = 1; t <= 200; t++) await engine.appendToLog(handle, txItems(t, 6))
    await engine.close()
    assert.ok(breakBranchPages(join(dir, 'partitions', '0', 'data.mdb')) > 0, 'the log tree has a branch page')

    const damaged = await openEngine({ dir, partitions: 1 })
    try {
      const reads: Array<[string, () => Promise<unknown>]> = [
        ['stream', () => collect(damaged.getLogStream(handle, '-1'))],
        ['json', () => damaged.getLogJson(handle, '-1')],
      ]
      for (const [kind, read] of reads) {
        await assert.rejects(read(), (error: unknown) => {
          assert.ok(error instanceof EngineError, `${kind}: ${String(error)}`)
          assert.equal(error.code, ErrorCode.STORAGE_CORRUPT, `${kind}: ${error.message}`)
          assert.match(error.message, /partitions\/0\/data\.mdb: the data of shape \d+ is damaged \(.*MDB_/)
          return true
        })
      }
    } finally {
      await damaged.close()
    }
  } finally {
    cleanup()
  }
})
