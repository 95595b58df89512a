import type { Engine, LogOffset, ShapeHandle } from '@shapestore/engine'

/** Reads of at most this many bytes are kept: the live tail, not snapshot or closed chunks. */
const CACHED_BYTES_MAX = 64 * 1024
const ENTRIES_MAX = 256

/**
 * Shares log reads between requests for the same range. When a transaction wakes N clients
 * long-polling one shape at one offset, all N ask for the same `(offset, chunk end]`: one read
 * serves them (concurrent requests share the in-flight read, later ones the kept result). A
 * committed range never changes and handles are never reused, so an entry can never go stale;
 * small reads are kept, the last ENTRIES_MAX of them (insertion order).
 *
 * A bigger read (a snapshot chunk) is not kept, but it is shared for as long as anything still
 * holds it: through a weak reference, so N clients that request a 4 MiB chunk and read it slowly
 * hold one copy between them, not N (each response holds the body until the socket has taken
 * it all), and the chunk is freed with its last response.
 */
export class LogReadCache {
  readonly #entries = new Map<string, Promise<Buffer>>()
  readonly #held = new Map<string, WeakRef<Buffer>>()
  readonly #forgetHeld = new FinalizationRegistry<string>((key) => {
    if (this.#held.get(key)?.deref() === undefined) this.#held.delete(key)
  })

  read(engine: Engine, handle: ShapeHandle, since: LogOffset, upTo: LogOffset): Promise<Buffer> {
    const key = `${handle} ${since} ${upTo}`
    const cached = this.#entries.get(key)
    if (cached !== undefined) return cached
    const held = this.#held.get(key)?.deref()
    if (held !== undefined) return Promise.resolve(held)
    const reading = engine.getLogJson(handle, since, upTo)
    this.#entries.set(key, reading)
    if (this.#entries.size > ENTRIES_MAX) this.#entries.delete(this.#entries.keys().next().value as string)
    reading.then(
      (body) => {
        if (body.length <= CACHED_BYTES_MAX || this.#entries.get(key) !== reading) return
        this.#entries.delete(key)
        this.#held.set(key, new WeakRef(body))
        this.#forgetHeld.register(body, key)
      },
      () => {
        if (this.#entries.get(key) === reading) this.#entries.delete(key)
      },
    )
    return reading
  }
}
