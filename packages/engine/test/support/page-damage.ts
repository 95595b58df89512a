// Page-level damage for the tests: what LMDB meets when a page of a partition file is wrong.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs'
import { openEngine } from '../../src/index.ts'
import { P_BRANCH, PAGE_HEADER_BYTES } from '../../src/integrity/tree-page.ts'

const PAGE = 4096
const HEADER = PAGE_HEADER_BYTES

/**
 * Points the last child of every branch page right above the leaves in `file` past the file's
 * end (the root, a branch above branches, is left alone: open checks the roots); returns how many
 * pages it changed.
 */
export function breakLowestBranchPages(file: string): number {
  const fd = openSync(file, 'r+')
  try {
    const pages = fstatSync(fd).size / PAGE
    const page = Buffer.alloc(PAGE)
    const child = Buffer.alloc(PAGE)
    let changed = 0
    for (let pgno = 2; pgno < pages; pgno++) {
      readSync(fd, page, 0, PAGE, pgno * PAGE)
      if ((page.readUInt16LE(18) & P_BRANCH) === 0) continue
      const nodes = page.readUInt16LE(20) / 2
      const last = HEADER + page.readUInt16LE(HEADER + 2 * (nodes - 1))
      const childPgno = page.readUInt16LE(last) + page.readUInt16LE(last + 2) * 2 ** 16
      readSync(fd, child, 0, PAGE, childPgno * PAGE)
      if ((child.readUInt16LE(18) & P_BRANCH) !== 0) continue
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

/** A store of one partition and one shape whose log holds `transactions` records of ~1.3 KB; returns its handle. */
export async function storeOfBigRecords(dir: string, transactions: number): Promise<string> {
  const engine = await openEngine({ dir, partitions: 1 })
  try {
    const { handle } = await engine.getOrCreateShape({ table: 'items' })
    await engine.makeNewSnapshot(handle, [])
    const pad = 'x'.repeat(1_200)
    for (let t = 1; t <= transactions; t++) {
      await engine.appendToLog(handle, [
        { offset: `${t}_0`, key: `"public"."items"/"${t}"`, op: 'insert', json: JSON.stringify({ t, pad }) },
      ])
    }
    return handle
  } finally {
    await engine.close()
  }
}
