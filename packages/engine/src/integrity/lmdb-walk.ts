import { closeSync, openSync, readSync } from 'node:fs'
import { NO_ROOT, newestCommit } from './lmdb-header.ts'
import { P_OVERFLOW, PAGE_HEADER_BYTES, treePageProblem } from './tree-page.ts'

/**
 * A full structural walk of an LMDB data file (lmdb-js 3's format, see lmdb-header.ts): from
 * the newest commit's roots, every reachable page is read and checked — its header names its
 * own page number, its kind is one a tree may hold there, its node table lies inside the page,
 * and every page it points to (children, overflow runs, named databases) lies inside the file.
 * This finds garbling inside data pages that the open-time check cannot see (LMDB keeps no
 * checksums), at the cost of reading the whole file: a tool to run (`pnpm verify`), not a step
 * of every open.
 */

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
    const { pageSize, pageCount, freeRoot, mainRoot } = newestCommit(fd)
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
        const problem = treePageProblem(page, pgno, pageCount, what, (node) => {
          if (node.kind === 'child') {
            stack.push({ pgno: BigInt(node.pgno), kind: 'tree' })
            return undefined
          }
          if (node.kind === 'database') {
            // Walked after this tree: `page` is reused.
            named.push([node.name, node.root])
            return undefined
          }
          const { first, runPages } = node
          const header = Buffer.alloc(PAGE_HEADER_BYTES)
          readSync(fd, header, 0, PAGE_HEADER_BYTES, first * pageSize)
          pages++
          if (header.readBigUInt64LE(0) !== BigInt(first) || (header.readUInt16LE(18) & P_OVERFLOW) === 0) {
            return `${what}: overflow page ${first} (from page ${n}) is not an overflow page`
          }
          if (header.readUInt32LE(20) < runPages) return `${what}: overflow run at page ${first} is too short`
          return undefined
        })
        if (problem !== undefined) return problem
      }
      return undefined
    }

    const named: Array<[string, bigint]> = []
    const problem =
      walk(freeRoot, 'the free-page database') ??
      walk(mainRoot, 'the main database') ??
      named.map(([name, root]) => walk(root, `database ${name}`)).find((found) => found !== undefined)
    return { pages, problem }
  } finally {
    closeSync(fd)
  }
}
