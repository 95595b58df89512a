import type { ReadPathKeys, ShapeHandle } from '@shapestore/engine'
import { encodeKeys, type SlotRef, Slots, slotScratch, WRITE_STALE } from './slots.ts'

/**
 * A writer thread's side of the shared table: it publishes its shapes' keys into the slots the
 * main thread gave them, and nothing else. The main thread owns the directory and allocation
 * (shared-table.ts); it sends each shape's slot with every operation on the shape (`assign`),
 * or "none" when the table had no room (`forget`).
 *
 * A publish that cannot land — no slot, or the slot was freed since (the shape is being
 * removed) — returns false, and the writer reports the shape to the main thread, which drops
 * whatever it holds of the shape by then (SharedReadPathTable.invalidate): its next read asks LMDB.
 */
export class SlotPublisher {
  readonly #slots: Slots
  readonly #assigned = new Map<ShapeHandle, SlotRef>()
  readonly #encoded = slotScratch()

  constructor(slotsBuffer: SharedArrayBuffer) {
    this.#slots = Slots.attach(slotsBuffer)
  }

  assign(handle: ShapeHandle, ref: SlotRef): void {
    this.#assigned.set(handle, ref)
  }

  forget(handle: ShapeHandle): void {
    this.#assigned.delete(handle)
  }

  /** True when `keys` are in the shape's slot; false when the main thread must be told. */
  publish(handle: ShapeHandle, keys: ReadPathKeys): boolean {
    const ref = this.#assigned.get(handle)
    if (ref === undefined) return false
    encodeKeys(keys, this.#encoded)
    let result: number
    try {
      result = this.#slots.publish(ref, this.#encoded)
    } catch {
      // The slot stayed locked for LOCK_WAIT_MS_MAX (slots.ts): reported like a missing slot.
      return false
    }
    if (result === WRITE_STALE) {
      this.#assigned.delete(handle)
      return false
    }
    return true
  }
}
