/**
 * The checks of one B-tree page of an LMDB data file (lmdb-js 3's format, see lmdb-header.ts):
 * its header names its own page number, its kind is branch or leaf, its node table lies inside
 * the page, every node, key and value lies inside the page, and every child page and overflow
 * run inside the file; each node is then handed to the caller, if it asks (a child page, an
 * overflow run, a named database), to follow what it points to.
 * Shared by the full walk (lmdb-walk.ts, `pnpm verify`) and the open-time check of each
 * database's root (lmdb-header.ts).
 */
export const PAGE_HEADER_BYTES = 24
export const P_BRANCH = 0x01
export const P_LEAF = 0x02
export const P_OVERFLOW = 0x04
const P_LEAF2 = 0x20
const F_BIGDATA = 0x01
const F_SUBDATA = 0x02
const NODE_HEADER_BYTES = 8
export const DB_RECORD_BYTES = 48

/** What a node of a tree page points to (page numbers already checked to lie inside the file). */
export type TreeNode =
  | {
      readonly kind: 'child'
      readonly pgno: number
      /** Where its key lies in the page (the first child's is empty: it covers everything below the second's). */
      readonly keyStart: number
      readonly keyEnd: number
    }
  | { readonly kind: 'overflow'; readonly first: number; readonly runPages: number }
  | { readonly kind: 'database'; readonly name: string; readonly root: bigint }

/**
 * The first problem of tree page `pgno` (read into `page`) of a file of `pageCount` pages, or
 * of what `onNode` finds a node points to; undefined if sound. `what` names the tree in messages.
 * Page numbers are plain numbers here (exact to 2^53 pages): the open-time check runs this over
 * every root, and BigInt arithmetic per node measured as a fifth of an open.
 */
export function treePageProblem(
  page: Buffer,
  pgno: bigint,
  pageCount: number,
  what: string,
  onNode?: (node: TreeNode) => string | undefined,
): string | undefined {
  const pageSize = page.length
  const n = Number(pgno)
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
  if (flags & P_LEAF2) return undefined // fixed-size keys, no nodes (dupsort dbs only; none here)
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
    let pointsTo: TreeNode | undefined
    if (kind === P_BRANCH) {
      const child = lo + hi * 2 ** 16 + nodeFlags * 2 ** 32
      if (child < 2 || child >= pageCount)
        return `${what}: a pointer to page ${child}, outside the file's ${pageCount} pages`
      if (onNode !== undefined)
        pointsTo = { kind: 'child', pgno: child, keyStart: node + NODE_HEADER_BYTES, keyEnd: data }
    } else {
      const dataSize = lo | (hi << 16)
      if (nodeFlags & F_BIGDATA) {
        if (data + 8 > pageSize) return `${what}: page ${n} has an overflow pointer past its end`
        const runPages = Math.ceil((PAGE_HEADER_BYTES + dataSize) / pageSize)
        const first = Number(page.readBigUInt64LE(data))
        if (first < 2 || first + runPages > pageCount) {
          return `${what}: page ${n} points to overflow pages ${first}..${first + runPages - 1}, outside the file's ${pageCount} pages`
        }
        if (onNode !== undefined) pointsTo = { kind: 'overflow', first, runPages }
      } else {
        if (data + dataSize > pageSize) return `${what}: page ${n} has a value past its end`
        if (nodeFlags & F_SUBDATA && onNode !== undefined) {
          if (dataSize < DB_RECORD_BYTES) return `${what}: page ${n} has a short database record`
          const name = page.toString('utf8', node + NODE_HEADER_BYTES, data).replace(/\0+$/, '')
          pointsTo = { kind: 'database', name, root: page.readBigUInt64LE(data + 40) }
        }
      }
    }
    if (pointsTo !== undefined) {
      const problem = onNode?.(pointsTo)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

/** The key of the last node of a page treePageProblem found sound (a view of `page`); empty if it has no node. */
export function lastKeyOf(page: Buffer): Buffer {
  const lower = page.readUInt16LE(20)
  if (lower === 0) return page.subarray(0, 0)
  const node = PAGE_HEADER_BYTES + page.readUInt16LE(PAGE_HEADER_BYTES + lower - 2)
  return page.subarray(node + NODE_HEADER_BYTES, node + NODE_HEADER_BYTES + page.readUInt16LE(node + 6))
}
