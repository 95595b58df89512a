/**
 * The crash loop's deterministic workload: what every shape, transaction and snapshot holds is
 * a pure function of the seed, so the checker regenerates it instead of trusting the child.
 * Which transactions the child sends where (and when it removes, hibernates, reads) depends on
 * its own seeded choices and on thread timing; the child reports those choices (see record.ts).
 */
import type { LogItem, OpType, PgSnapshot, ShapeDefinition } from '@shapestore/engine'

/** Shape slots: a slot holds one live shape at a time; removing it makes room for a new generation. */
export const SLOTS = 16
export const PARTITIONS = 4
/** Small, so log chunks close often and snapshots have many chunks. */
export const CHUNK_BYTES_THRESHOLD = 400

export const engineOptions = (dir: string) => ({
  dir,
  partitions: PARTITIONS,
  chunkBytesThreshold: CHUNK_BYTES_THRESHOLD,
})

/** A 32-bit hash of (seed, a, b). */
export function mix(seed: number, a: number, b: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (const v of [a, b]) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    h ^= h >>> 16
    h = Math.imul(h ^ Math.floor(v / 2 ** 32), 0x27d4eb2f)
    h ^= h >>> 15
  }
  return h >>> 0
}

export function shapeDefinition(slot: number, gen: number): ShapeDefinition {
  return { table: 'crash', where: `slot = ${slot} AND gen = ${gen}` }
}

/** The (slot, gen) a shape definition of this workload names, or undefined. */
export function parseDefinition(def: ShapeDefinition): { slot: number; gen: number } | undefined {
  const match = /^slot = (\d+) AND gen = (\d+)$/.exec(def.where ?? '')
  return (def.table === 'crash' || def.table === '"public"."crash"') && match !== null
    ? { slot: Number(match[1]), gen: Number(match[2]) }
    : undefined
}

/**
 * Items of source transaction t in a slot (the same whichever generation gets it): 1..12, and one
 * in 16 has 240..299, so a group commit with it goes to lmdb-js' write thread (the engine's
 * SYNC_COMMIT_ITEMS_MAX) and kills land on both commit paths.
 */
export function itemCount(seed: number, slot: number, t: number): number {
  const h = mix(seed, t, 2000 + slot)
  return h % 16 === 0 ? 240 + (h % 60) : 1 + (h % 12)
}

const OP_TYPES: readonly OpType[] = ['insert', 'update', 'delete']

/** Item k of transaction t in a slot: its JSON names slot, transaction and op. */
export function itemJson(seed: number, slot: number, t: number, k: number): string {
  return JSON.stringify({ s: slot, t, o: 2 * k, pad: 'x'.repeat(mix(seed, t * 16 + k, 3000 + slot) % 40) })
}

export function transactionItems(seed: number, slot: number, t: number): LogItem[] {
  return Array.from({ length: itemCount(seed, slot, t) }, (_, k) => ({
    offset: `${t}_${2 * k}`,
    key: `"public"."crash"/"${slot}-${t}-${k}"`,
    op: OP_TYPES[k % 3] as OpType,
    json: itemJson(seed, slot, t, k),
  }))
}

/** The snapshot rows of a generation: 20..319 rows (big enough to be cut by kills). */
export function snapshotRows(seed: number, slot: number, gen: number): string[] {
  const count = 20 + (mix(seed, gen, 5000 + slot) % 300)
  return Array.from({ length: count }, (_, r) =>
    JSON.stringify({ s: slot, g: gen, snap: r, pad: 'y'.repeat(mix(seed, r, 4000 + slot) % 40) }),
  )
}

export function pgSnapshotOf(gen: number): PgSnapshot {
  return { xmin: gen, xmax: gen + 3, xipList: [gen + 1], filterTxns: true }
}

/** A log entry's (slot, t, o) as its JSON names them. */
export function parseEntry(json: string): { s: number; t: number; o: number } {
  return JSON.parse(json) as { s: number; t: number; o: number }
}
