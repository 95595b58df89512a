/**
 * Types for sharedmap 1.2.0 as it behaves at run time (read from its source, checked in
 * docs/design/sharedmap-notes.md). The package's own index.d.ts is wrong and cannot be fixed by augmenting
 * it: it declares a named export `SharedMap` that does not exist (the module is CommonJS,
 * `module.exports = SharedMap`), types `get` as `string | null` while it returns undefined, and
 * has invalid syntax that only skipLibCheck hides. Any `declare module 'sharedmap'` would merge
 * with that file, keeping the phantom named export importable. So directory.ts imports the very
 * file the package's `main` points to, `sharedmap/index.umd.js`, and this declaration is the
 * only one for that specifier. Only directory.ts may use it: the wrapper there guards the
 * defects listed in the notes.
 */
declare module 'sharedmap/index.umd.js' {
  interface SharedMapOptions {
    /** The caller holds lockWrite(). Does not exclude readers: never use it to build set-if-absent. */
    readonly lockWrite?: boolean
    /** The caller holds lockExclusive(). */
    readonly lockExclusive?: boolean
  }

  /** Counters of this instance (not shared: a structured clone carries a copy). */
  interface SharedMapStats {
    set: number
    delete: number
    collisions: number
    rechains: number
    get: number
    deadlock: number
  }

  class SharedMap {
    /** Sizes are entries and UTF-16 code units, each rounded up to a multiple of 4. */
    constructor(maxSize: number, keySize: number, objSize: number)
    /** The buffer every typed array of the map views; a structured clone keeps sharing it. */
    readonly storage: SharedArrayBuffer
    readonly stats: SharedMapStats
    /** Entries present. */
    readonly length: number
    /** maxSize, after rounding. */
    readonly size: number
    lockExclusive(): void
    unlockExclusive(): void
    lockWrite(): void
    unlockWrite(): void
    /** Throws RangeError when the key or value is too long or the map is full, TypeError for a non-string key. */
    set(key: string, value: string | number, options?: SharedMapOptions): void
    get(key: string, options?: SharedMapOptions): string | undefined
    has(key: string, options?: SharedMapOptions): boolean
    /** Throws RangeError when the key is missing. */
    delete(key: string, options?: SharedMapOptions): void
    clear(): void
    keys(options?: SharedMapOptions): Generator<string, void, undefined>
    map<T>(callback: (value: string, key: string) => T, thisArg?: unknown): T[]
    reduce<T>(callback: (accumulator: T, value: string, key: string) => T, initialValue: T): T
  }

  export = SharedMap
}
