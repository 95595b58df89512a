import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { PAGE_HEADER_BYTES } from '../../src/integrity/tree-page.ts'

const PAGE = 4096

/**
 * Sets the key size of every node of leaf `pgno` of the LMDB data file `file` to 65,520 bytes
 * (a node: data size u32, flags u16, key size u16): lmdb-js' cursor copied that much into its
 * 4 KiB key buffer, unchecked. Works on a file an engine has open too (LMDB maps the same pages).
 */
export function overrunKeySizes(file: string, pgno: number): void {
  const fd = openSync(file, 'r+')
  try {
    const page = Buffer.alloc(PAGE)
    readSync(fd, page, 0, PAGE, pgno * PAGE)
    for (let i = 0; i < page.readUInt16LE(20) / 2; i++) {
      page.writeUInt16LE(0xfff0, PAGE_HEADER_BYTES + page.readUInt16LE(PAGE_HEADER_BYTES + 2 * i) + 6)
    }
    writeSync(fd, page, 0, PAGE, pgno * PAGE)
  } finally {
    closeSync(fd)
  }
}
