/// <reference path="./fs-native-extensions.d.ts" />
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import fsx from 'fs-native-extensions'
import { EngineError, ErrorCode } from './errors.ts'

/**
 * One engine per data directory. The lock is an OFD (open file description) lock on
 * `<dir>/LOCK`, taken with fs-native-extensions: the kernel releases it when the process dies,
 * even by SIGKILL, so a crash never leaves a stale lock, and a second open of the same file in
 * the same process is refused too (OFD locks belong to the descriptor, not the process).
 */
export class DirectoryLock {
  readonly #fd: number

  private constructor(fd: number) {
    this.#fd = fd
  }

  static acquire(dir: string): DirectoryLock {
    mkdirSync(dir, { recursive: true })
    const path = join(dir, 'LOCK')
    const fd = openSync(path, 'a+')
    let granted = false
    try {
      granted = fsx.tryLock(fd)
    } finally {
      if (!granted) closeSync(fd)
    }
    if (!granted) {
      throw new EngineError(ErrorCode.DIRECTORY_LOCKED, `${dir} is in use by another engine (lock: ${path})`)
    }
    // The pid is informational only (for a person looking at the directory); the lock is the fcntl lock.
    ftruncateSync(fd, 0)
    writeSync(fd, `${process.pid}\n`, 0)
    return new DirectoryLock(fd)
  }

  release(): void {
    fsx.unlock(this.#fd)
    closeSync(this.#fd)
  }
}
