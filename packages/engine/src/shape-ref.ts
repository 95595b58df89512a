import type { ShapeHandle } from './handle.ts'

/** Where a shape lives: what the catalog resolves a handle to for the write and read paths. */
export interface ShapeRef {
  readonly handle: ShapeHandle
  readonly partition: number
  /** The shape's id in storage keys (u32, never reused). */
  readonly shapeId: number
}
