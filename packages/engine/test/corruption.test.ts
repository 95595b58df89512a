/**
 * Damaged directories, made by really truncating, garbling and deleting files on disk: opening
 * one fails with STORAGE_CORRUPT naming the file and what is wrong, never a native crash
 * (SIGBUS, SIGSEGV: each open runs in a child process, so a crash shows as a signal) and never
 * a silently empty store. The check runs at open, before LMDB maps a file (integrity/), for the
 * catalog and for every partition (partitions are checked at open too, though they are opened
 * lazily, so a damaged one fails the open, not a later call): the catalog records which partitions hold shapes, so a
 * missing one is told apart from one never created.
 *
 * The open check reads the meta pages and every database's root page. Damage below the roots of
 * a big file is not seen at open (LMDB keeps no checksums; catching it means reading every
 * page): `pnpm verify <dir>` (verifyStore) does that. The last test garbles each page of a small
 * store in turn: what verify flags, the open refuses; what it does not flag was free space.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { closeSync, cpSync, mkdirSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'
import { ErrorCode, openEngine, verifyStore } from '../src/index.ts'
import { collect, tempDir, txItems } from './helpers.ts'

const REPORTER = fileURLToPath(new URL('./fixtures/open-and-report.ts', import.meta.url))
const ENGINE_DIR = fileURLToPath(new URL('..', import.meta.url))
const PAGE = 4096

type Report = { opened: true; shapes: Record<string, number> } | { opened: false; code: string; message: string }

function openInChild(dir: string, runtime: 'inline' | 'worker'): Report {
  const child = spawnSync(process.execPath, ['--import', 'tsx', REPORTER, dir, runtime], {
    cwd: ENGINE_DIR,
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(child.signal, null, `the open crashed the process (${child.signal}):\n${child.stderr}`)
  assert.equal(child.status, 0, `the open failed without an EngineError:\n${child.stderr}`)
  return JSON.parse(child.stdout.trim().split('\n').at(-1) as string) as Report
}

/** A store with data in both partitions: 4 shapes, 3 transactions of 5 items each. */
async function makeStore(dir: string): Promise<Record<string, number>> {
  const engine = await openEngine({ dir, partitions: 2 })
  const expected: Record<string, number> = {}
  for (let s = 0; s < 4; s++) {
    const { handle } = await engine.getOrCreateShape({ table: 'items', where: `id = ${s}` })
    for (let tx = 1; tx <= 3; tx++) await engine.appendToLog(handle, txItems(tx, 5))
    expected[handle] = 15
  }
  await engine.close()
  return expected
}

/**
 * The pages LMDB uses in `file` (its last page number + 1): a partition's writer keeps zeros past
 * them (tail-padding.ts), which no database reaches.
 */
function usedPages(file: string): number {
  const env = open({ path: dirname(file), readOnly: true })
  try {
    return (env as unknown as { env: { info(): { lastPageNumber: number } } }).env.info().lastPageNumber + 1
  } finally {
    env.close()
  }
}

/**
 * Half the pages LMDB uses, in bytes. (Cutting just the last page is not always damage: LMDB can
 * leave pages at the end unused; what matters is whether pages the databases need are gone.)
 */
const halfPages = (file: string) => Math.floor(usedPages(file) / 2) * PAGE

/** Every shape's row count, read in this process. */
async function readStore(dir: string): Promise<Record<string, number>> {
  const engine = await openEngine({ dir, partitions: 2 })
  const shapes: Record<string, number> = {}
  for (const { handle } of engine.listShapes())
    shapes[handle] = (await collect(engine.getLogStream(handle, '0_inf'))).length
  await engine.close()
  return shapes
}

/** Overwrites `length` bytes at `offset` with a fixed non-LMDB pattern. */
function garble(file: string, offset: number, length: number): void {
  const bytes = Buffer.alloc(length, 0xa5)
  for (let i = 0; i < length; i++) bytes[i] = (bytes[i] as number) ^ (i * 31)
  const fd = openSync(file, 'r+')
  try {
    writeSync(fd, bytes, 0, length, offset)
  } finally {
    closeSync(fd)
  }
}

const catalogFile = (dir: string) => join(dir, 'catalog', 'data.mdb')
const partitionFile = (dir: string, p: number) => join(dir, 'partitions', String(p), 'data.mdb')

const catalog = (d: string) => catalogFile(d)
const partition = (p: number) => (d: string) => partitionFile(d, p)

/** Each case: the file it damages (the error must name it), the damage, what the error must say. */
const cases: Array<{ name: string; file: (dir: string) => string; damage: (file: string) => void; expect: RegExp }> = [
  { name: 'catalog truncated to 0 bytes', file: catalog, damage: (f) => truncateSync(f, 0), expect: /empty/ },
  {
    name: 'catalog truncated to half its pages',
    file: catalog,
    damage: (f) => truncateSync(f, halfPages(f)),
    expect: /truncated/,
  },
  {
    name: 'catalog truncated inside its meta pages',
    file: catalog,
    damage: (f) => truncateSync(f, 100),
    expect: /truncated/,
  },
  { name: 'catalog meta page 0 garbled', file: catalog, damage: (f) => garble(f, 0, 256), expect: /garbled/ },
  {
    name: 'catalog meta page 1 garbled',
    file: catalog,
    damage: (f) => garble(f, PAGE + 16, 128),
    expect: /meta page 1/,
  },
  {
    name: 'catalog deleted, partitions left',
    file: catalog,
    damage: (f) => rmSync(dirname(f), { recursive: true }),
    expect: /missing, but partition\(s\) 0, 1 hold data/,
  },
  { name: 'partition truncated to 0 bytes', file: partition(1), damage: (f) => truncateSync(f, 0), expect: /empty/ },
  {
    name: 'partition truncated to half its pages',
    file: partition(0),
    damage: (f) => truncateSync(f, halfPages(f)),
    expect: /truncated/,
  },
  {
    name: 'partition garbled from its start',
    file: partition(1),
    damage: (f) => garble(f, 0, 3 * PAGE),
    expect: /garbled/,
  },
  { name: 'partition data file deleted', file: partition(0), damage: (f) => rmSync(f), expect: /is missing/ },
  {
    name: 'partition directory deleted',
    file: partition(1),
    damage: (f) => rmSync(dirname(f), { recursive: true }),
    expect: /missing \(its directory too\)/,
  },
]

for (const { name, file: fileOf, damage, expect } of cases) {
  for (const runtime of ['inline', 'worker'] as const) {
    // The worker runtime opens through the same check; two cases show it, the rest run inline.
    if (runtime === 'worker' && !/deleted|garbled from/.test(name)) continue
    test(`${name} (${runtime}): STORAGE_CORRUPT at open, naming the file`, async () => {
      const { dir, cleanup } = tempDir()
      try {
        await makeStore(dir)
        const file = fileOf(dir)
        damage(file)
        const report = openInChild(dir, runtime)
        assert.equal(report.opened, false, `the damaged store opened: ${JSON.stringify(report)}`)
        if (report.opened) return
        assert.equal(report.code, ErrorCode.STORAGE_CORRUPT, report.message)
        assert.ok(report.message.includes(file), `the message names ${file}: ${report.message}`)
        assert.match(report.message, expect)
      } finally {
        cleanup()
      }
    })
  }
}

test('an intact store opens with all its data (the control for the cases above)', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const expected = await makeStore(dir)
    assert.deepEqual(openInChild(dir, 'inline'), { opened: true, shapes: expected })
    assert.deepEqual(openInChild(dir, 'worker'), { opened: true, shapes: expected })
  } finally {
    cleanup()
  }
})

test('no false alarm: a new directory, and an empty file of a partition that holds no shape', async () => {
  const { dir, cleanup } = tempDir()
  try {
    assert.deepEqual(openInChild(join(dir, 'new'), 'inline'), { opened: true, shapes: {} })
    // Partition 1 of a 2-partition store with a single shape (shape id 1 -> partition 1) ...
    const engine = await openEngine({ dir: join(dir, 'one'), partitions: 2 })
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.appendToLog(handle, txItems(1, 2))
    await engine.close()
    // ... and partition 0 whose creation was cut short (an empty file: LMDB initialises it).
    mkdirSync(join(dir, 'one', 'partitions', '0'), { recursive: true })
    writeFileSync(partitionFile(join(dir, 'one'), 0), '')
    assert.deepEqual(openInChild(join(dir, 'one'), 'inline'), { opened: true, shapes: { [handle]: 2 } })
  } finally {
    cleanup()
  }
})

test('one page garbled, each page in turn: flagged by `pnpm verify`, refused at open or harmless; never a crash', {
  timeout: 120_000,
}, async (t) => {
  const { dir, cleanup } = tempDir()
  try {
    const expected = await makeStore(dir)
    const pristine = join(dir, 'pristine')
    cpSync(join(dir, 'catalog'), join(pristine, 'catalog'), { recursive: true })
    cpSync(join(dir, 'partitions'), join(pristine, 'partitions'), { recursive: true })
    assert.deepEqual(
      verifyStore(dir).map(({ problem }) => problem),
      [undefined, undefined, undefined],
      'the intact store verifies',
    )
    const tally = { flagged: 0, refusedAtOpen: 0, harmless: 0 }
    for (const file of [catalogFile(dir), partitionFile(dir, 0), partitionFile(dir, 1)]) {
      const pages = usedPages(file)
      for (let page = 2; page < pages; page++) {
        // Restore, then overwrite one whole page (pages 0 and 1 are the meta pages, covered above).
        for (const part of ['catalog', 'partitions']) cpSync(join(pristine, part), join(dir, part), { recursive: true })
        garble(file, page * PAGE, PAGE)
        const what = `${file} page ${page}`
        const problem = verifyStore(dir).find((verified) => verified.file === file)?.problem
        if (problem === undefined) {
          // Not flagged: a page no database reaches (free space). The store must be whole. (Opened in
          // this process: were verify wrong, a native crash would fail the run too.)
          assert.deepEqual(await readStore(dir), expected, what)
          tally.harmless++
          continue
        }
        tally.flagged++
        // Flagged: opening (in a child: it might crash) is refused, or reads the whole store.
        const report = openInChild(dir, 'inline')
        if (report.opened) assert.deepEqual(report.shapes, expected, `${what}: opened, but not whole`)
        else {
          assert.equal(report.code, ErrorCode.STORAGE_CORRUPT, `${what}: ${report.message}`)
          assert.ok(report.message.includes(file), `${what}: the message names the file: ${report.message}`)
          tally.refusedAtOpen++
        }
      }
    }
    t.diagnostic(`garbled pages: ${JSON.stringify(tally)}`)
    assert.ok(tally.flagged > 0, 'no garbled page was flagged')
  } finally {
    cleanup()
  }
})
