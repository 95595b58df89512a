import { readSync } from 'node:fs'
import { NO_ROOT, newestCommit } from './lmdb-header.ts'
import { treePageProblem } from './tree-page.ts'

/**
 * The pages a cursor over one named database is about to read, checked in JS first: every page
 * of the database's tree, or with `range` only those that can hold its keys, as treePageProblem
 * checks a page (its nodes, keys and values inside it, its pointers inside the file). LMDB checks
 * no page as it reads it, and lmdb-js' cursor copies each key it steps onto into a 4 KiB buffer
 * at the size the page says (`src/cursor.cpp`, unchecked): a garbled leaf overran it and killed
 * the process (SIGSEGV, or glibc's abort on a heap it had overwritten) in two of 30 trials of
 * `pnpm test:damaged-pages --file catalog`. Point reads (mdb_get) copy no key from a page.
 *
 * The pages are the newest commit's as the file holds them now: the caller makes its cursor
 * read that commit or a later one (a later commit rewrites only pages it copied from checked
 * ones, or new ones), and keeps the file open.
 */

/** The keys a range read spans, as LMDB stores them (lmdb-js' key encoding), `end` included. */
export interface KeySpan {
  readonly start: Buffer
  readonly end: Buffer
}

/** Undefined if the pages of database `name` that a cursor (over `span`) reads are sound, else the first problem. */
export function cursorPagesProblem(fd: number, name: string, span?: KeySpan): string | undefined {
  const { pageSize, pageCount, mainRoot } = newestCommit(fd)
  const page = Buffer.alloc(pageSize)
  const what = `database ${name}`
  let root = NO_ROOT
  // The main database holds a record per named database (one page, with a handful of them).
  const mainProblem = walk(mainRoot, 'the main database', undefined, (node) => {
    if (node.kind === 'database' && node.name === name) root = node.root
  })
  return mainProblem ?? walk(root, what, span)

  /**
   * Checks the tree under `from`: at a branch page, the children whose keys can fall in `span`
   * and the one after them (a cursor steps onto the first key past its range to see it ends).
   */
  function walk(
    from: bigint,
    tree: string,
    keys: KeySpan | undefined,
    onDatabase?: (node: { kind: 'database'; name: string; root: bigint }) => void,
  ): string | undefined {
    if (from === NO_ROOT) return undefined
    if (from < 2n || from >= BigInt(pageCount))
      return `${tree}: its root page ${from} is outside the file's ${pageCount} pages`
    const pending: number[] = [Number(from)]
    const seen = new Set<number>()
    while (pending.length > 0) {
      const pgno = pending.pop() as number
      if (seen.has(pgno)) return `${tree}: page ${pgno} is reached twice (a cycle or a shared page)`
      seen.add(pgno)
      readSync(fd, page, 0, pageSize, pgno * pageSize)
      const children: Array<{ pgno: number; keyStart: number; keyEnd: number }> = []
      const problem = treePageProblem(page, BigInt(pgno), pageCount, tree, (node) => {
        if (node.kind === 'child') children.push(node)
        else if (node.kind === 'database') onDatabase?.(node)
        return undefined
      })
      if (problem !== undefined) return problem
      if (children.length === 0) continue // a leaf
      let first = 0
      let last = children.length - 1
      if (keys !== undefined) {
        // Child i holds the keys from its own key to child i + 1's; the first child's key is
        // LMDB's implicit lowest (stored empty).
        const startsAtOrBefore = (i: number, key: Buffer) => {
          const child = children[i] as { keyStart: number; keyEnd: number }
          return i === 0 || Buffer.compare(page.subarray(child.keyStart, child.keyEnd), key) <= 0
        }
        while (first < last && startsAtOrBefore(first + 1, keys.start)) first++
        last = first
        while (last < children.length - 1 && startsAtOrBefore(last, keys.end)) last++
      }
      // Checked before any child is read: `page` is reused.
      for (let i = last; i >= first; i--) pending.push((children[i] as { pgno: number }).pgno)
    }
    return undefined
  }
}
