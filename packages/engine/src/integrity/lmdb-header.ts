import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { DB_RECORD_BYTES, PAGE_HEADER_BYTES, treePageProblem } from './tree-page.ts'

/**
 * Reads the two meta pages of an LMDB data file (`data.mdb`) and says what is wrong with them,
 * before the file is handed to LMDB: a native LMDB maps the file and trusts it, so a truncated
 * or garbled file kills the process (SIGBUS, SIGSEGV) instead of failing a call. This check
 * catches what can be caught by reading a handful of pages (the two meta pages and the root page
 * of each database): a file that ends before a root page (truncation), meta or root pages that
 * are not LMDB's (garbling). A truncation or garbling below the roots is not seen here: that
 * takes reading every page (lmdb-walk.ts, `pnpm verify`).
 * LMDB keeps no page checksums, so garbling inside a data page is not detectable this way.
 *
 * The layout is the one of the LMDB that lmdb-js 3 bundles (data format version 2): a page
 * starts with a 24-byte header (pgno u64, txnid u64, pad u16, flags u16, lower u16, upper u16);
 * a meta page's body is magic u32, version u32, address u64, mapsize u64, two 48-byte database
 * records (the free-page db, whose first u32 holds the page size, and the main db, root at
 * +40), last page number u64, txnid u64. Little-endian (x86-64 and arm64).
 */
const P_META = 0x08
const MAGIC = 0xbeefc0de
const DATA_VERSION = 2
const META = {
  magic: PAGE_HEADER_BYTES,
  version: PAGE_HEADER_BYTES + 4,
  pageSize: PAGE_HEADER_BYTES + 24,
  freeRoot: PAGE_HEADER_BYTES + 24 + 40,
  mainRoot: PAGE_HEADER_BYTES + 24 + DB_RECORD_BYTES + 40,
  lastPage: PAGE_HEADER_BYTES + 24 + 2 * DB_RECORD_BYTES,
  txnId: PAGE_HEADER_BYTES + 24 + 2 * DB_RECORD_BYTES + 8,
} as const
const META_BYTES = META.txnId + 8
/** An empty database's root. */
export const NO_ROOT = 0xffff_ffff_ffff_ffffn
const PAGE_SIZE_MIN = 512
const PAGE_SIZE_MAX = 65_536

interface Meta {
  readonly lastPage: bigint
  readonly txnId: bigint
  readonly freeRoot: bigint
  readonly mainRoot: bigint
}

class GarbledPage extends Error {}

/**
 * The roots of a commit's databases: the free-page db, the main db, and each named db (records
 * in the main db; with a handful of named dbs its root is a single leaf page).
 */
function rootsOf(fd: number, meta: Meta, pageSize: number, pages: number): Array<[string, bigint]> {
  const roots: Array<[string, bigint]> = [
    ['(free pages)', meta.freeRoot],
    ['(main)', meta.mainRoot],
  ]
  if (meta.mainRoot === NO_ROOT || meta.mainRoot >= BigInt(pages)) return roots.filter(([, root]) => root !== NO_ROOT)
  const page = Buffer.alloc(pageSize)
  readSync(fd, page, 0, pageSize, Number(meta.mainRoot) * pageSize)
  const problem = treePageProblem(page, meta.mainRoot, pages, 'the main database', (node) => {
    if (node.kind === 'database') roots.push([node.name, node.root])
    return undefined
  })
  if (problem !== undefined)
    throw new GarbledPage(`the main database's root page ${meta.mainRoot} is garbled (${problem})`)
  return roots.filter(([, root]) => root !== NO_ROOT)
}

/** Returns undefined if the file's header is sound, else what is wrong (a phrase for an error message). */
export function lmdbHeaderProblem(file: string): string | undefined {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return 'it is empty'
    const first = Buffer.alloc(META_BYTES)
    if (readSync(fd, first, 0, META_BYTES, 0) < META_BYTES) return `it is truncated to ${size} bytes`
    const pageSize = first.readUInt32LE(META.pageSize)
    const pageSizeOk = pageSize >= PAGE_SIZE_MIN && pageSize <= PAGE_SIZE_MAX && (pageSize & (pageSize - 1)) === 0
    if (!pageSizeOk || first.readUInt32LE(META.magic) !== MAGIC) return 'meta page 0 is not an LMDB meta page (garbled)'
    if (size < 2 * pageSize)
      return `it is truncated to ${size} bytes (an LMDB file has at least 2 pages of ${pageSize})`
    const second = Buffer.alloc(META_BYTES)
    readSync(fd, second, 0, META_BYTES, pageSize)
    const metas: Meta[] = []
    for (const [index, page] of [first, second].entries()) {
      const problem = metaProblem(page, index, pageSize)
      if (typeof problem === 'string') return `meta page ${index} ${problem}`
      metas.push(problem)
    }
    // A file may legitimately end before its last page number (pages allocated and freed in one
    // transaction are never written), so truncation is judged by the pages every read starts
    // from: the root of each database of the newest commit.
    const newest = (metas[0] as Meta).txnId >= (metas[1] as Meta).txnId ? (metas[0] as Meta) : (metas[1] as Meta)
    const pages = Math.floor(size / pageSize)
    let roots: Array<[string, bigint]>
    try {
      roots = rootsOf(fd, newest, pageSize, pages)
    } catch (error) {
      if (error instanceof GarbledPage) return error.message
      throw error
    }
    const page = Buffer.alloc(pageSize)
    for (const [name, root] of roots) {
      if (root >= BigInt(pages)) {
        return `it is truncated: ${size} bytes (${pages} pages), but the root of database ${name} of commit ${newest.txnId} is page ${root}`
      }
      // The roots are the pages a commit writes last, and every read starts at one: check each
      // is a sound tree page whose nodes point inside the file. LMDB trusts a root's node
      // table: a garbled one made a later read run past the file's end (SIGBUS).
      readSync(fd, page, 0, pageSize, Number(root) * pageSize)
      const problem = treePageProblem(page, root, pages, `database ${name}`)
      if (problem !== undefined) return `the root page ${root} of database ${name} is garbled (${problem})`
    }
    return undefined
  } finally {
    closeSync(fd)
  }
}

/** The newest commit of a data file whose header passed lmdbHeaderProblem, and the file's geometry. */
export interface NewestCommit {
  readonly pageSize: number
  /** Pages a pointer may name: the file's whole pages, or the commit's (see newestCommit). */
  readonly pageCount: number
  readonly txnId: bigint
  readonly freeRoot: bigint
  readonly mainRoot: bigint
}

/** The page size nearly every file has: both meta pages then come in one read. */
const USUAL_PAGE_SIZE = 4096

/**
 * Reads the meta pages of the open data file `fd` (LMDB reads the one of the higher txn id, as
 * here). `bound`: 'file' counts the pages the file holds (a walk that must see a truncated file);
 * 'commit' the pages the commit uses, LMDB's own bound on every page a read follows (no fstat).
 */
export function newestCommit(fd: number, bound: 'file' | 'commit' = 'file'): NewestCommit {
  const both = Buffer.alloc(USUAL_PAGE_SIZE + META_BYTES)
  readSync(fd, both, 0, both.length, 0)
  const pageSize = both.readUInt32LE(META.pageSize)
  let second = both.subarray(USUAL_PAGE_SIZE)
  if (pageSize !== USUAL_PAGE_SIZE) {
    second = Buffer.alloc(META_BYTES)
    readSync(fd, second, 0, META_BYTES, pageSize)
  }
  const meta = both.readBigUInt64LE(META.txnId) >= second.readBigUInt64LE(META.txnId) ? both : second
  return {
    pageSize,
    pageCount:
      bound === 'file' ? Math.floor(fstatSync(fd).size / pageSize) : Number(meta.readBigUInt64LE(META.lastPage)) + 1,
    txnId: meta.readBigUInt64LE(META.txnId),
    freeRoot: meta.readBigUInt64LE(META.freeRoot),
    mainRoot: meta.readBigUInt64LE(META.mainRoot),
  }
}

function metaProblem(page: Buffer, index: number, pageSize: number): string | Meta {
  if (page.readBigUInt64LE(0) !== BigInt(index) || (page.readUInt16LE(18) & P_META) === 0) {
    return 'has a garbled page header'
  }
  if (page.readUInt32LE(META.magic) !== MAGIC) return 'has no LMDB magic number (garbled)'
  const version = page.readUInt32LE(META.version)
  if (version !== DATA_VERSION)
    return `has data version ${version}, expected ${DATA_VERSION} (garbled, or another LMDB)`
  if (page.readUInt32LE(META.pageSize) !== pageSize) return 'disagrees with meta page 0 on the page size (garbled)'
  const lastPage = page.readBigUInt64LE(META.lastPage)
  if (lastPage < 1n || lastPage > 2n ** 48n) return `names an impossible last page ${lastPage} (garbled)`
  for (const offset of [META.freeRoot, META.mainRoot]) {
    const root = page.readBigUInt64LE(offset)
    if (root !== NO_ROOT && (root < 2n || root > lastPage))
      return `names a root page ${root} past its last page (garbled)`
  }
  return {
    lastPage,
    txnId: page.readBigUInt64LE(META.txnId),
    freeRoot: page.readBigUInt64LE(META.freeRoot),
    mainRoot: page.readBigUInt64LE(META.mainRoot),
  }
}
