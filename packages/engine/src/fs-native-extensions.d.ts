// fs-native-extensions ships no type declarations; these cover the calls the engine makes.
declare module 'fs-native-extensions' {
  interface FsNativeExtensions {
    tryLock(fd: number, options?: { shared?: boolean }): boolean
    unlock(fd: number): void
  }
  const fsx: FsNativeExtensions
  export default fsx
}
