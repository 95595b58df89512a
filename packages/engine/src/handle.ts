import { EngineError, ErrorCode } from './errors.ts'

/**
 * Shape handles, Electric's form: `<hash>-<unix microseconds>`, e.g. `43061132-1757029388081097`.
 * The hash is 27 bits of the shape digest; the microseconds make a handle unique per creation,
 * so a removed and re-created shape gets a new handle. A handle comes from clients (HTTP), so
 * every public entry point validates it before it reaches storage.
 */
const HANDLE = /^[0-9]{1,10}-[0-9]{1,20}$/

export type ShapeHandle = string

export function isValidHandle(handle: unknown): handle is ShapeHandle {
  return typeof handle === 'string' && handle.length <= 31 && HANDLE.test(handle)
}

export function assertHandle(handle: unknown): asserts handle is ShapeHandle {
  if (!isValidHandle(handle)) {
    const shown = typeof handle === 'string' ? JSON.stringify(handle.slice(0, 64)) : typeof handle
    throw new EngineError(ErrorCode.INVALID_HANDLE, `not a shape handle: ${shown}`)
  }
}

/** Makes handles for one process: strictly increasing microseconds, never the same twice. */
export class HandleMinter {
  #lastMicros = 0

  mint(digestHex: string): ShapeHandle {
    const micros = Math.max(Date.now() * 1000, this.#lastMicros + 1)
    this.#lastMicros = micros
    return `${handlePrefix(digestHex)}${micros}`
  }
}

/** What every handle minted for the definition of digest `digestHex` starts with: `<hash>-`. */
export function handlePrefix(digestHex: string): string {
  return `${Number.parseInt(digestHex.slice(0, 8), 16) & 0x7ff_ffff}-`
}
