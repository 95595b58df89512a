import { closeSync, openSync, readSync } from 'node:fs'
import { type NewestCommit, NO_ROOT, newestCommit } from './lmdb-header.ts'
import { lastKeyOf, treePageProblem } from './tree-page.ts'

/**
 * The pages a cursor over one named database is about to read, checked in JS first, as
 * treePageProblem checks a page (its nodes, keys and values inside it, its pointers inside the
 * commit). LMDB checks no page as it reads it, and lmdb-js' cursor copies each key it steps onto
 * into a 4 KiB buffer at the size the page says (`src/cursor.cpp`, unchecked): a garbled leaf
 * overran it and killed the process (SIGSEGV, or glibc's abort on a heap it had overwritten) in
 * two of 30 trials of `pnpm test:damaged-pages --file catalog`. Point reads (mdb_get) copy no key
 * out of a page.
 *
 * Which pages: every page of the database for a cursor over all of it; for a cursor over a key
 * span, the pages that cursor visits: down to the leaf that holds the span's start, then leaf by
 * leaf while a leaf ends at or before the span's end (the cursor steps onto the first key past
 * its span to see it ends), each reached through its branch pages. The pages are the newest
 * commit's: the caller makes its cursor read that commit or a later one (a later commit rewrites
 * only pages it copied from checked ones).
 *
 * Each page read is a system call (2-5 µs here), so a span's branch pages, and where the named
 * database's root is, are remembered until the next commit (a committed page does not change
 * while its commit is the newest); its leaves, the pages whose keys the cursor copies, are read
 * again every time, so damage that appears in them while the engine runs is met too. A branch
 * page damaged since it was remembered sends LMDB to another page, which a sound file holds sound.
 */

/** The keys a range read spans, as LMDB stores them (lmdb-js' key encoding), `end` included. */
export interface KeySpan {
  readonly start: Buffer
  readonly end: Buffer
}

/**
 * A branch page's children: their pages, and where their keys lie in `page` (a copy of the
 * page; the first key is empty: LMDB's implicit lowest).
 */
interface Branch {
  readonly page: Buffer
  readonly pgnos: readonly number[]
  readonly keyStarts: readonly number[]
  readonly keyEnds: readonly number[]
}

/**
 * What reading and checking one page found: its problem, or (a branch page) its children or
 * (a leaf) none.
 */
type Checked = { readonly problem: string } | { readonly problem?: undefined; readonly branch: Branch | null }

/** Checks the pages cursors will read in one LMDB data file (opened at the first check, until close). */
export class CursorPages {
  readonly #file: string
  #fd = -1
  /** The commit the memos below are of. */
  #commit: NewestCommit | undefined
  readonly #roots = new Map<string, bigint>()
  readonly #branches = new Map<number, Branch>()
  #page = Buffer.alloc(0)

  constructor(file: string) {
    this.#file = file
  }

  close(): void {
    if (this.#fd !== -1) closeSync(this.#fd)
    this.#fd = -1
  }

  /**
   * Undefined if the pages of database `name` that a cursor (over `span`) reads are sound, else
   * the first problem. `newestTxnId`: the environment's last commit as LMDB reports it now.
   */
  problem(name: string, newestTxnId: number, span?: KeySpan): string | undefined {
    if (this.#fd === -1) this.#fd = openSync(this.#file, 'r')
    let commit = this.#commit
    if (commit === undefined || Number(commit.txnId) !== newestTxnId) {
      commit = newestCommit(this.#fd, 'commit')
      this.#commit = commit
      this.#roots.clear()
      this.#branches.clear()
      if (this.#page.length !== commit.pageSize) this.#page = Buffer.alloc(commit.pageSize)
    }
    const seen = new Set<number>()
    if (!this.#roots.has(name)) {
      // The main database holds a record per named database (one page, with a handful of them).
      const problem = this.#everyPage(commit.mainRoot, 'the main database', seen)
      if (problem !== undefined) return problem
    }
    const root = this.#roots.get(name) ?? NO_ROOT
    if (root === NO_ROOT) return undefined
    const tree = `database ${name}`
    return span === undefined ? this.#everyPage(root, tree, seen) : this.#spanPages(root, tree, span, seen)
  }

  #everyPage(root: bigint, tree: string, seen: Set<number>): string | undefined {
    const pending = [root]
    for (let pgno = pending.pop(); pgno !== undefined; pgno = pending.pop()) {
      const checked = this.#check(pgno, tree, seen)
      if (checked.problem !== undefined) return checked.problem
      for (const child of checked.branch?.pgnos ?? []) pending.push(BigInt(child))
    }
    return undefined
  }

  /** The pages a cursor over `span` visits in the tree under `root` (see the module's comment). */
  #spanPages(root: bigint, tree: string, span: KeySpan, seen: Set<number>): string | undefined {
    /** The branch pages above the current page, each with the child taken. */
    const path: Array<{ branch: Branch; taken: number }> = []
    let pgno = root
    // Down to the leaf of the span's start first; after that, down the leftmost children.
    let seekingStart = true
    for (;;) {
      const checked = this.#check(pgno, tree, seen)
      if (checked.problem !== undefined) return checked.problem
      const { branch } = checked
      if (branch !== null) {
        const taken = seekingStart ? childHolding(branch, span.start) : 0
        path.push({ branch, taken })
        pgno = BigInt(branch.pgnos[taken] as number)
        continue
      }
      seekingStart = false
      // A leaf: the cursor stops in it if it holds a key past the span's end.
      if (Buffer.compare(lastKeyOf(this.#page), span.end) > 0) return undefined
      let next: number | undefined
      while (next === undefined) {
        const above = path.at(-1)
        if (above === undefined) return undefined // the last leaf of the tree
        if (above.taken + 1 < above.branch.pgnos.length) next = above.branch.pgnos[++above.taken]
        else path.pop()
      }
      pgno = BigInt(next)
    }
  }

  /**
   * Page `pgno`: a branch page remembered at this commit as it is, else read (into #page) and
   * checked; remembers a branch page's children and a named database's root.
   */
  #check(pgno: bigint, tree: string, seen: Set<number>): Checked {
    const { pageCount, pageSize } = this.#commit as NewestCommit
    if (pgno < 2n || pgno >= BigInt(pageCount))
      return { problem: `${tree}: a pointer to page ${pgno}, past the commit's ${pageCount} pages` }
    const n = Number(pgno)
    // A damaged pointer can lead back to a page this check met already.
    if (seen.has(n)) return { problem: `${tree}: page ${n} is reached twice (a cycle or a shared page)` }
    seen.add(n)
    const remembered = this.#branches.get(n)
    if (remembered !== undefined) return { branch: remembered }
    const page = this.#page
    readSync(this.#fd, page, 0, pageSize, n * pageSize)
    const pgnos: number[] = []
    const keyStarts: number[] = []
    const keyEnds: number[] = []
    const problem = treePageProblem(page, pgno, pageCount, tree, (node) => {
      if (node.kind === 'child') {
        pgnos.push(node.pgno)
        keyStarts.push(node.keyStart)
        keyEnds.push(node.keyEnd)
      } else if (node.kind === 'database') this.#roots.set(node.name, node.root)
      return undefined
    })
    if (problem !== undefined) return { problem }
    if (pgnos.length === 0) return { branch: null }
    const branch = { page: Buffer.from(page), pgnos, keyStarts, keyEnds }
    this.#branches.set(n, branch)
    return { branch }
  }
}

/** The child of `branch` whose keys hold `key`: the last whose key is at or before it. */
function childHolding(branch: Branch, key: Buffer): number {
  const { page, pgnos, keyStarts, keyEnds } = branch
  let child = 0
  // (Buffer#compare with ranges: no view of the page made per child.)
  while (child + 1 < pgnos.length && page.compare(key, 0, key.length, keyStarts[child + 1], keyEnds[child + 1]) <= 0) {
    child++
  }
  return child
}
