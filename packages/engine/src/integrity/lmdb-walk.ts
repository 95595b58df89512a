import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

/**
 * A full structural walk of an LMDB data file (lmdb-js 3's format, see lmdb-header.ts): from
 * the newest commit's roots, every reachable page is read and checked — its header names its
 * own page number, its kind is one a tree may hold there, its node table lies inside the page,
 * and every page it points to (children, overflow runs, named databases) lies inside the file.
 * This finds garbling inside data pages that the open-time check cannot see (LMDB keeps no
 * checksums), at the cost of reading the whole file: a tool to run (`pnpm verify`), not a step
 * of every open.
 */
const PAGE_HEADER_BYTES = 24
const P_BRANCH = 0x01
const P_LEAF = 0x02
const P_OVERFLOW = 0x04
const P_LEAF2 = 0x20
const F_BIGDATA = 0x01
const F_SUBDATA = 0x02
const NODE_HEADER_BYTES = 8
const DB_RECORD_BYTES = 48
const NO_ROOT = 0xffff_ffff_ffff_ffffn
const META_MAIN_ROOT = PAGE_HEADER_BYTES + 24 + DB_RECORD_BYTES + 40
const META_FREE_ROOT = PAGE_HEADER_BYTES + 24 + 40
const META_TXNID = PAGE_HEADER_BYTES + 24 + 2 * DB_RECORD_BYTES + 8

export interface WalkResult {
  /** Pages read (tree pages and the first page of each overflow run). */
  readonly pages: number
  /** Undefined if sound, else the first problem found. */
  readonly problem: string | undefined
}

/** Walks a data file whose header passed lmdbHeaderProblem. */
export function walkLmdbFile(file: string): WalkResult {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const head = Buffer.alloc(PAGE_HEADER_BYTES + 64)
    readSync(fd, head, 0, head.length, 0)
    const pageSize = head.readUInt32LE(PAGE_HEADER_BYTES + 24)
    const pageCount = Math.floor(size / pageSize)
    // The newest commit's meta page.
    const metas = [0, 1].map((index) => {
      const page = Buffer.alloc(pageSize)
      readSync(fd, page, 0, pageSize, index * pageSize)
      return page
    })
    const meta =
      (metas[0] as Buffer).readBigUInt64LE(META_TXNID) >= (metas[1] as Buffer).readBigUInt64LE(META_TXNID)
        ? metas[0]
        : metas[1]
    const page = Buffer.alloc(pageSize)
    const seen = new Set<number>()
    let pages = 0

    const walk = (root: bigint, what: string): string | undefined => {
      if (root === NO_ROOT) return undefined
      const stack: Array<{ pgno: bigint; kind: 'tree' }> = [{ pgno: root, kind: 'tree' }]
      while (stack.length > 0) {
        const { pgno } = stack.pop() as { pgno: bigint }
        if (pgno < 2n || pgno >= BigInt(pageCount))
          return `${what}: a pointer to page ${pgno}, outside the file's ${pageCount} pages`
        const n = Number(pgno)
        if (seen.has(n)) return `${what}: page ${n} is reached twice (a cycle or a shared page)`
        seen.add(n)
        pages++
        readSync(fd, page, 0, pageSize, n * pageSize)
        if (page.readBigUInt64LE(0) !== pgno) return `${what}: page ${n} says it is page ${page.readBigUInt64LE(0)}`
        const flags = page.readUInt16LE(18)
        const lower = page.readUInt16LE(20)
        const upper = page.readUInt16LE(22)
        const kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW)
        if (kind !== P_BRANCH && kind !== P_LEAF)
          return `${what}: page ${n} has flags 0x${flags.toString(16)}, not a tree page`
        // Offsets in the page (lower, upper, the node table) count from the end of the header.
        if (lower % 2 !== 0 || lower > upper || PAGE_HEADER_BYTES + upper > pageSize) {
          return `${what}: page ${n} has a bad node table (lower ${lower}, upper ${upper})`
        }
        if (flags & P_LEAF2) continue // fixed-size keys, no nodes (dupsort dbs only; none here)
        for (let at = PAGE_HEADER_BYTES; at < PAGE_HEADER_BYTES + lower; at += 2) {
          const node = PAGE_HEADER_BYTES + page.readUInt16LE(at)
          if (node < PAGE_HEADER_BYTES + upper || node + NODE_HEADER_BYTES > pageSize) {
            return `${what}: page ${n} has a node outside its heap`
          }
          const lo = page.readUInt16LE(node)
          const hi = page.readUInt16LE(node + 2)
          const nodeFlags = page.readUInt16LE(node + 4)
          const keySize = page.readUInt16LE(node + 6)
          const data = node + NODE_HEADER_BYTES + keySize
          if (data > pageSize) return `${what}: page ${n} has a key past its end`
          if (kind === P_BRANCH) {
            stack.push({ pgno: BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n), kind: 'tree' })
            continue
          }
          const dataSize = lo | (hi << 16)
          if (nodeFlags & F_BIGDATA) {
            if (data + 8 > pageSize) return `${what}: page ${n} has an overflow pointer past its end`
            const first = page.readBigUInt64LE(data)
            const runPages = Math.ceil((PAGE_HEADER_BYTES + dataSize) / pageSize)
            if (first < 2n || first + BigInt(runPages) > BigInt(pageCount)) {
              return `${what}: page ${n} points to overflow pages ${first}..${first + BigInt(runPages) - 1n}, outside the file's ${pageCount} pages`
            }
            const header = Buffer.alloc(PAGE_HEADER_BYTES)
            readSync(fd, header, 0, PAGE_HEADER_BYTES, Number(first) * pageSize)
            pages++
            if (header.readBigUInt64LE(0) !== first || (header.readUInt16LE(18) & P_OVERFLOW) === 0) {
              return `${what}: overflow page ${first} (from page ${n}) is not an overflow page`
            }
            if (header.readUInt32LE(20) < runPages) return `${what}: overflow run at page ${first} is too short`
            continue
          }
          if (data + dataSize > pageSize) return `${what}: page ${n} has a value past its end`
          if (nodeFlags & F_SUBDATA) {
            if (dataSize < DB_RECORD_BYTES) return `${what}: page ${n} has a short database record`
            const name = page.toString('utf8', node + NODE_HEADER_BYTES, data).replace(/\0+$/, '')
            const subRoot = page.readBigUInt64LE(data + 40)
            // Walked after this tree: `page` is reused.
            named.push([name, subRoot])
          }
        }
      }
      return undefined
    }

    const named: Array<[string, bigint]> = []
    const problem =
      walk((meta as Buffer).readBigUInt64LE(META_FREE_ROOT), 'the free-page database') ??
      walk((meta as Buffer).readBigUInt64LE(META_MAIN_ROOT), 'the main database') ??
      named.map(([name, root]) => walk(root, `database ${name}`)).find((found) => found !== undefined)
    return { pages, problem }
  } finally {
    closeSync(fd)
  }
}
