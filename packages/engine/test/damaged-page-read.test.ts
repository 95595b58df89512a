// Proves damage in a page is met with STORAGE_CORRUPT, not LMDB's uncoded error or a dead
// process: the branch pages of a partition's log tree made to point past the end of the file
// (MDB_PAGE_NOTFOUND when a read follows them) fail the reads of the shape, naming the file and
// the shape; the leaves near the end of the file with node offsets 64 KiB out (LMDB follows them:
// past the end of the file that was a SIGBUS) fail the reads in a process that lives, since the
// engine keeps zeros past its last page (tail-padding.ts); a database root whose nodes are
// garbled (LMDB trusts it, and a read ran past the file's end: SIGBUS) is refused at open.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { closeSync, cpSync, openSync, readSync, statSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'
import { handlePrefix } from '../src/handle.ts'
import { EngineError, ErrorCode, openEngine } from '../src/index.ts'
import { CursorPages } from '../src/integrity/cursor-pages.ts'
import { newestCommit } from '../src/integrity/lmdb-header.ts'
import { P_BRANCH, P_LEAF, PAGE_HEADER_BYTES } from '../src/integrity/tree-page.ts'
import { TAIL_PADDING_MIN_BYTES } from '../src/log-store/tail-padding.ts'
import { canonicalShape, shapeDigest } from '../src/shape.ts'
import { assertCode, collect, tempDir, txItems } from './helpers.ts'
import { overrunKeySizes } from './support/overrun-keys.ts'
import { breakLowestBranchPages, storeOfBigRecords } from './support/page-damage.ts'

// The page layout of lmdb-js' LMDB (src/integrity/tree-page.ts): a 24-byte header (pgno u64,
// txnid u64, pad u16, flags u16, lower u16, upper u16), node offsets after it, relative to its end.
const PAGE = 4096
const READ_LOGS = fileURLToPath(new URL('./support/read-logs.ts', import.meta.url))
const CATALOG_CURSORS = fileURLToPath(new URL('./support/catalog-cursors.ts', import.meta.url))
const HEADER = PAGE_HEADER_BYTES

/** The root page of the named database `name` in the newest commit of `file` (meta pages, then the main database's leaf). */
function rootOf(file: string, name: string): number {
  const fd = openSync(file, 'r')
  try {
    const page = Buffer.alloc(PAGE)
    const metas = [0, 1].map((n) => {
      readSync(fd, page, 0, PAGE, n * PAGE)
      return { txnId: page.readBigUInt64LE(152), mainRoot: Number(page.readBigUInt64LE(136)) }
    })
    const newest = (metas[0]?.txnId ?? 0n) >= (metas[1]?.txnId ?? 0n) ? metas[0] : metas[1]
    readSync(fd, page, 0, PAGE, (newest?.mainRoot ?? 0) * PAGE)
    for (let at = HEADER; at < HEADER + page.readUInt16LE(20); at += 2) {
      const node = HEADER + page.readUInt16LE(at)
      const data = node + 8 + page.readUInt16LE(node + 6)
      if (page.toString('utf8', node + 8, data).replace(/\0+$/, '') === name)
        return Number(page.readBigUInt64LE(data + 40))
    }
    throw new Error(`no database ${name}`)
  } finally {
    closeSync(fd)
  }
}

test('a page LMDB cannot follow, met by a read, is STORAGE_CORRUPT naming the file and the shape', async () => {
  const { dir, cleanup } = tempDir()
  try {
    // Three records to a leaf: 600 make a log tree of three levels (a root over branches over
    // leaves), so there are branch pages below the root.
    const handle = await storeOfBigRecords(dir, 600)
    assert.ok(
      breakLowestBranchPages(join(dir, 'partitions', '0', 'data.mdb')) > 0,
      'the log tree has branch pages below its root',
    )

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

/** Page numbers of the leaf pages among the last `pages` pages LMDB uses in `file`, highest first. */
function lastLeaves(file: string, lastPage: number, pages: number): number[] {
  const fd = openSync(file, 'r')
  try {
    const page = Buffer.alloc(PAGE)
    const leaves: number[] = []
    for (let pgno = lastPage; pgno > Math.max(1, lastPage - pages); pgno--) {
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      if ((page.readUInt16LE(18) & (P_LEAF | P_BRANCH)) === P_LEAF && page.readUInt16LE(20) > 0) leaves.push(pgno)
    }
    return leaves
  } finally {
    closeSync(fd)
  }
}

/** The last page LMDB uses in the environment at `path` (default: the single partition of the store in `dir`), and its data file's length. */
function usedAndLength(
  dir: string,
  path = join(dir, 'partitions', '0'),
): { file: string; lastPage: number; length: number } {
  const file = join(path, 'data.mdb')
  const env = open({ path, readOnly: true })
  try {
    const info = (env as unknown as { env: { info(): { lastPageNumber: number } } }).env.info()
    return { file, lastPage: info.lastPageNumber, length: statSync(file).size }
  } finally {
    env.close()
  }
}

test('the catalog keeps zeros past its last page after creations and after removals', async () => {
  const { dir, cleanup } = tempDir()
  const catalog = join(dir, 'catalog')
  const padded = () => {
    const { lastPage, length } = usedAndLength(dir, catalog)
    return length >= (lastPage + 1) * PAGE + TAIL_PADDING_MIN_BYTES
  }
  try {
    let engine = await openEngine({ dir, partitions: 1 })
    const handles: string[] = []
    for (let i = 0; i < 300; i++) handles.push((await engine.getOrCreateShape({ table: `t${i}` })).handle)
    await engine.close()
    assert.ok(padded(), 'padded after creations')

    // As a crash between a commit and its padding leaves it: the next commit pads it again.
    const { file, lastPage } = usedAndLength(dir, catalog)
    truncateSync(file, (lastPage + 1) * PAGE)
    assert.ok(!padded())
    engine = await openEngine({ dir, partitions: 1 })
    await engine.removeShape(handles[0] as string)
    await engine.close()
    assert.ok(padded(), 'padded after a removal')
  } finally {
    cleanup()
  }
})

/**
 * For each leaf page `pgno`: a copy of the store in `dir` with that page changed by `garble`,
 * every log of `handle` read in a child process that must live; returns the reads' outcomes
 * (a row count, `corrupt` or `refused`: anything else fails).
 */
function readsOfDamagedLeaves(dir: string, handle: string, pgnos: number[], garble: (page: Buffer) => void): string[] {
  const outcomes: string[] = []
  for (const pgno of pgnos) {
    const copy = join(dir, `copy-${pgno}`)
    cpSync(join(dir, 'partitions'), join(copy, 'partitions'), { recursive: true })
    cpSync(join(dir, 'catalog'), join(copy, 'catalog'), { recursive: true })
    const fd = openSync(join(copy, 'partitions', '0', 'data.mdb'), 'r+')
    try {
      const page = Buffer.alloc(PAGE)
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      garble(page)
      writeSync(fd, page, 0, PAGE, pgno * PAGE)
    } finally {
      closeSync(fd)
    }
    const child = spawnSync(process.execPath, ['--import', 'tsx', READ_LOGS, copy, handle], { encoding: 'utf8' })
    assert.equal(child.signal, null, `page ${pgno}: the reader died (${child.signal})`)
    assert.equal(child.status, 0, `page ${pgno}: ${child.stderr}`)
    const read = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '[]') as string[]
    for (const outcome of read) assert.ok(['200', 'corrupt', 'refused'].includes(outcome), `page ${pgno}: ${outcome}`)
    outcomes.push(...read)
  }
  return outcomes
}

test('leaves whose node offsets run off the end of the file are STORAGE_CORRUPT, and the process lives', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const handle = await storeOfBigRecords(dir, 200)
    const { file, lastPage, length } = usedAndLength(dir)
    assert.ok(length >= (lastPage + 1) * PAGE + TAIL_PADDING_MIN_BYTES, 'zeros past the last page')

    // A node offset of 0xfff0 sends LMDB 64 KiB past its page: off the end for the last 16 pages.
    // (A database root among them is refused at open: that is fine too.)
    const leaves = lastLeaves(file, lastPage, 16).slice(0, 8)
    assert.ok(leaves.length > 0, 'leaves among the last pages')
    const outcomes = readsOfDamagedLeaves(dir, handle, leaves, (page) => {
      for (let i = 0; i < page.readUInt16LE(20) / 2; i++) page.writeUInt16LE(0xfff0, HEADER + 2 * i)
    })
    assert.ok(outcomes.includes('corrupt'), `some read met a damaged leaf: ${outcomes.join(', ')}`)
  } finally {
    cleanup()
  }
})

/** The leaf pages of database `name` in the newest commit of `file`, walked down from its root. */
function leavesOf(file: string, name: string): number[] {
  const fd = openSync(file, 'r')
  try {
    const page = Buffer.alloc(PAGE)
    const leaves: number[] = []
    const pending = [rootOf(file, name)]
    for (let pgno = pending.pop(); pgno !== undefined; pgno = pending.pop()) {
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      if ((page.readUInt16LE(18) & P_BRANCH) === 0) {
        leaves.push(pgno)
        continue
      }
      // A branch node: its child's page number in its first 48 bits (lo, hi, flags).
      for (let at = HEADER; at < HEADER + page.readUInt16LE(20); at += 2) {
        const node = HEADER + page.readUInt16LE(at)
        pending.push(
          page.readUInt16LE(node) + page.readUInt16LE(node + 2) * 2 ** 16 + page.readUInt16LE(node + 4) * 2 ** 32,
        )
      }
    }
    return leaves
  } finally {
    closeSync(fd)
  }
}

test('leaves whose values claim GiBs are STORAGE_CORRUPT before lmdb-js copies them, and the process lives', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const handle = await storeOfBigRecords(dir, 200)
    const { file } = usedAndLength(dir)
    const leaves = leavesOf(file, 'log').slice(-4)
    assert.ok(leaves.length > 0, 'the log has leaves')
    // A leaf node: data size (u16 low, u16 high), flags (u16), key size (u16), key, data. 3 GiB
    // is past any stored value: refused before lmdb-js copies it (value-size-guard.ts), which
    // ran off the end of the file.
    const size = 3 * 2 ** 30
    const outcomes = readsOfDamagedLeaves(dir, handle, leaves, (page) => {
      for (let i = 0; i < page.readUInt16LE(20) / 2; i++) {
        const node = HEADER + page.readUInt16LE(HEADER + 2 * i)
        if (page.readUInt16LE(node + 4) !== 0) continue // not a plain value: a sub-database or an overflow page
        page.writeUInt16LE(size % 2 ** 16, node)
        page.writeUInt16LE(Math.floor(size / 2 ** 16), node + 2)
      }
    })
    assert.ok(outcomes.includes('corrupt'), `some read met a damaged leaf: ${outcomes.join(', ')}`)
  } finally {
    cleanup()
  }
})

/** A store of 300 shapes without data (a catalog whose `shapes` database has a branch root); returns the catalog's data file. */
async function catalogOf300Shapes(dir: string): Promise<string> {
  const engine = await openEngine({ dir, partitions: 1 })
  for (let i = 0; i < 300; i++) await engine.getOrCreateShape({ table: `t${i}` })
  await engine.close()
  return join(dir, 'catalog', 'data.mdb')
}

test('a list that meets fewer shapes than the catalog counts is STORAGE_CORRUPT', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = await catalogOf300Shapes(dir)
    const leaves = leavesOf(file, 'shapes')
    assert.ok(leaves.length > 1, 'the shapes database has a branch root')
    const fd = openSync(file, 'r+')
    try {
      // One node fewer in a leaf (its node table ends 2 bytes earlier): what a damaged branch
      // page does at a larger scale, leading the cursor past entries the database still counts.
      const page = Buffer.alloc(PAGE)
      readSync(fd, page, 0, PAGE, (leaves[1] as number) * PAGE)
      page.writeUInt16LE(page.readUInt16LE(20) - 2, 20)
      writeSync(fd, page, 0, PAGE, (leaves[1] as number) * PAGE)
    } finally {
      closeSync(fd)
    }
    const damaged = await openEngine({ dir, partitions: 1 })
    try {
      await assertCode(() => [...damaged.listShapes()], ErrorCode.STORAGE_CORRUPT)
      await assert.rejects(async () => [...damaged.listShapes()], /299 entries listed of the 300 the database counts/)
    } finally {
      await damaged.close()
    }
  } finally {
    cleanup()
  }
})

/** The first and last key of leaf `pgno` of `file` (keys of the catalog's `shapes`: handles, stored as their bytes). */
function keySpanOf(file: string, pgno: number): { pgno: number; first: string; last: string } {
  const fd = openSync(file, 'r')
  try {
    const page = Buffer.alloc(PAGE)
    readSync(fd, page, 0, PAGE, pgno * PAGE)
    const keyAt = (index: number) => {
      const node = HEADER + page.readUInt16LE(HEADER + 2 * index)
      return page.toString('latin1', node + 8, node + 8 + page.readUInt16LE(node + 6))
    }
    return { pgno, first: keyAt(0), last: keyAt(page.readUInt16LE(20) / 2 - 1) }
  } finally {
    closeSync(fd)
  }
}

/** A table whose shape's handles start with a prefix inside [after, before] (a new definition's lookup range). */
function tableWithPrefixBetween(after: string, before: string): string {
  for (let i = 0; i < 100_000; i++) {
    const table = `probe${i}`
    const prefix = handlePrefix(shapeDigest(canonicalShape({ table })))
    if (prefix > after && `${prefix.slice(0, -1)}.` < before) return table
  }
  throw new Error(`no table with a handle prefix between ${after} and ${before}`)
}

/** The leaves of the catalog's `shapes` database in key order, each with its first and last key. */
function shapesLeaves(file: string): Array<{ pgno: number; first: string; last: string }> {
  const leaves = leavesOf(file, 'shapes')
    .map((pgno) => keySpanOf(file, pgno))
    .sort((a, b) => (a.first < b.first ? -1 : 1))
  assert.ok(leaves.length >= 3, 'the shapes database has three leaves or more')
  return leaves
}

/** The outcomes a child process (support/catalog-cursors.ts) printed; it must have lived. */
function childOutcomes(script: string, args: string[]): string[] {
  const child = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8' })
  assert.equal(child.signal, null, `the process died (${child.signal}): ${child.stderr}`)
  assert.equal(child.status, 0, child.stderr)
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '[]') as string[]
}

test('a catalog leaf whose key sizes overrun it is STORAGE_CORRUPT for the cursors that would read it, and the process lives', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = await catalogOf300Shapes(dir)
    const leaves = shapesLeaves(file)
    const damaged = leaves[1] as { pgno: number; first: string; last: string }
    const lastLeaf = leaves.at(-1) as { pgno: number; first: string; last: string }
    // A creation checks that no shape of its definition has an entry: a cursor over the handles
    // of its prefix, here one inside the damaged leaf and one inside the last leaf.
    const inDamaged = tableWithPrefixBetween(damaged.first, damaged.last)
    const elsewhere = tableWithPrefixBetween(lastLeaf.first, `${lastLeaf.last}~`)
    overrunKeySizes(file, damaged.pgno)
    assert.deepEqual(
      childOutcomes(CATALOG_CURSORS, [dir, inDamaged, elsewhere]),
      ['corrupt', 'corrupt', 'created'],
      'the list, the creation in the damaged leaf, the other',
    )
  } finally {
    cleanup()
  }
})

test('a catalog leaf damaged while the engine runs is met by the next cursor over it, though no commit came between', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = await catalogOf300Shapes(dir)
    const damaged = shapesLeaves(file)[1] as { pgno: number; first: string; last: string }
    const inDamaged = tableWithPrefixBetween(damaged.first, damaged.last)
    assert.deepEqual(
      childOutcomes(CATALOG_CURSORS, [dir, '--garble', String(damaged.pgno), inDamaged]),
      ['listed 300', 'corrupt', 'corrupt'],
      'the list before the damage, the list after it, a creation in the damaged leaf',
    )
  } finally {
    cleanup()
  }
})

test('a span check reads the leaf after its own only when the cursor would step onto it', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = await catalogOf300Shapes(dir)
    const leaves = shapesLeaves(file)
    const first = leaves[0] as { first: string; last: string }
    const second = leaves[1] as { pgno: number; first: string }
    overrunKeySizes(file, second.pgno)
    const fd = openSync(file, 'r')
    try {
      const pages = new CursorPages(file)
      const txnId = Number(newestCommit(fd).txnId)
      const span = (start: string, end: string) => ({ start: Buffer.from(start), end: Buffer.from(end) })
      // Ends before the first leaf's last key: the cursor stops inside that leaf.
      assert.equal(pages.problem('shapes', txnId, span(first.first, first.first)), undefined)
      // Reaches the first leaf's last key: the cursor steps onto the next leaf to see the end.
      assert.match(pages.problem('shapes', txnId, span(first.first, first.last)) ?? '', /past its end/)
      assert.match(pages.problem('shapes', txnId, span(second.first, second.first)) ?? '', /past its end/)
      pages.close()
    } finally {
      closeSync(fd)
    }
  } finally {
    cleanup()
  }
})

test('a database root whose node table is garbled (its header intact) is refused at open', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const engine = await openEngine({ dir, partitions: 1 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    await engine.appendToLog(handle, txItems(1, 3))
    await engine.close()
    const file = join(dir, 'partitions', '0', 'data.mdb')
    const pgno = rootOf(file, 'meta')
    const fd = openSync(file, 'r+')
    try {
      // Every node offset in the table points at the last bytes of the page: nodes past its end.
      const page = Buffer.alloc(PAGE)
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      const nodes = page.readUInt16LE(20) / 2
      assert.ok(nodes > 0)
      for (let i = 0; i < nodes; i++) page.writeUInt16LE(PAGE - HEADER - 2, HEADER + 2 * i)
      writeSync(fd, page, 0, PAGE, pgno * PAGE)
    } finally {
      closeSync(fd)
    }
    await assertCode(() => openEngine({ dir, partitions: 1 }), ErrorCode.STORAGE_CORRUPT)
    await assert.rejects(openEngine({ dir, partitions: 1 }), /root page \d+ of database meta is garbled/)
  } finally {
    cleanup()
  }
})
