import { readSync } from 'node:fs'
import { type NewestCommit, NO_ROOT, newestCommit } from './lmdb-header.ts'
import { treePageProblem } from './tree-page.ts'

/**
 * The pages a cursor over one named database is about to read, checked in JS first: every page
 * of the database's tree, or with a key span only those that can hold its keys, as
 * treePageProblem checks a page (its nodes, keys and values inside it, its pointers inside the
 * file). LMDB checks no page as it reads it, and lmdb-js' cursor copies each key it steps onto
 * into a 4 KiB buffer at the size the page says (`src/cursor.cpp`, unchecked): a garbled leaf
 * overran it and killed the process (SIGSEGV, or glibc's abort on a heap it had overwritten) in
 * two of 30 trials of `pnpm test:damaged-pages --file catalog`. Point reads (mdb_get) copy no key
 * out of a page.
 *
 * The pages are the newest commit's as the file holds them: the caller makes its cursor read that
 * commit or a later one (a later commit rewrites only pages it copied from checked ones, or new
 * ones). A commit's pages do not change while it is the newest, so the pages found sound are
 * remembered until the next commit: a creation's check (a few pages) then reads only the pages
 * no check of that commit read (each read here is a system call of 2-5 µs).
 */

/** The keys a range read spans, as LMDB stores them (lmdb-js' key encoding), `end` included. */
export interface KeySpan {
  readonly start: Buffer
  readonly end: Buffer
}

/** A branch page's child: its page and its key (the first child's is empty, LMDB's implicit lowest). */
interface Child {
  readonly pgno: number
  readonly key: Buffer
}

const LEAF: readonly Child[] = []

/** Checks the cursor pages of the LMDB data file open as `fd` (which the caller keeps open). */
export class CursorPages {
  readonly #fd: number
  #commit: NewestCommit | undefined
  /** Pages found sound at #commit: a branch's children, a leaf's none. */
  readonly #sound = new Map<number, readonly Child[]>()
  /** Roots of the named databases at #commit. */
  readonly #roots = new Map<string, bigint>()
  #page = Buffer.alloc(0)

  constructor(fd: number) {
    this.#fd = fd
  }

  /**
   * Undefined if the pages of database `name` a cursor (over `span`) reads are sound, else the
   * first problem. `newestTxnId`: the environment's last commit as LMDB reports it now.
   */
  problem(name: string, newestTxnId: number, span?: KeySpan): string | undefined {
    if (this.#commit === undefined || Number(this.#commit.txnId) !== newestTxnId) {
      this.#commit = newestCommit(this.#fd)
      this.#sound.clear()
      this.#roots.clear()
      if (this.#page.length !== this.#commit.pageSize) this.#page = Buffer.alloc(this.#commit.pageSize)
    }
    let root = this.#roots.get(name)
    if (root === undefined) {
      // The main database holds a record per named database (one page, with a handful of them).
      const problem = this.#walk(this.#commit.mainRoot, 'the main database', undefined)
      if (problem !== undefined) return problem
      root = this.#roots.get(name) ?? NO_ROOT
    }
    return this.#walk(root, `database ${name}`, span)
  }

  /**
   * Checks the tree under `from`: at a branch page, the children whose keys can fall in `span`
   * and the one after them (a cursor steps onto the first key past its range to see it ends).
   */
  #walk(from: bigint, tree: string, span: KeySpan | undefined): string | undefined {
    const { pageCount, pageSize } = this.#commit as NewestCommit
    if (from === NO_ROOT) return undefined
    if (from < 2n || from >= BigInt(pageCount))
      return `${tree}: its root page ${from} is outside the file's ${pageCount} pages`
    const pending: number[] = [Number(from)]
    const seen = new Set<number>()
    while (pending.length > 0) {
      const pgno = pending.pop() as number
      if (seen.has(pgno)) return `${tree}: page ${pgno} is reached twice (a cycle or a shared page)`
      seen.add(pgno)
      let children = this.#sound.get(pgno)
      if (children === undefined) {
        const page = this.#page
        readSync(this.#fd, page, 0, pageSize, pgno * pageSize)
        const found: Child[] = []
        const problem = treePageProblem(page, BigInt(pgno), pageCount, tree, (node) => {
          if (node.kind === 'child')
            found.push({ pgno: node.pgno, key: Buffer.from(page.subarray(node.keyStart, node.keyEnd)) })
          else if (node.kind === 'database') this.#roots.set(node.name, node.root)
          return undefined
        })
        if (problem !== undefined) return problem
        children = found.length === 0 ? LEAF : found
        this.#sound.set(pgno, children)
      }
      if (children.length === 0) continue // a leaf
      let first = 0
      let last = children.length - 1
      if (span !== undefined) {
        // Child i holds the keys from its own key to child i + 1's.
        const startsAtOrBefore = (i: number, key: Buffer) =>
          i === 0 || Buffer.compare((children[i] as Child).key, key) <= 0
        while (first < last && startsAtOrBefore(first + 1, span.start)) first++
        last = first
        while (last < children.length - 1 && startsAtOrBefore(last, span.end)) last++
      }
      for (let i = last; i >= first; i--) pending.push((children[i] as Child).pgno)
    }
    return undefined
  }
}
