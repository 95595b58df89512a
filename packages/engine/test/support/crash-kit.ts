// Pieces every crash harness needs (the engine's inline crash test, the workers' crash loop, the
// example server's crash test): one copy here, exported as `@shapestore/engine/crash-kit`.
import { writeSync } from 'node:fs'
import { join } from 'node:path'
import { open } from 'lmdb'
import { decodePlace, type ShapePlace } from '../../src/catalog/place-record.ts'

/** mulberry32: a small seeded PRNG, so kill delays and workload choices replay from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Snapshot rows cut into chunks by Electric's rule (row bytes + 1; a chunk ends at the threshold). */
export function snapshotChunks(rows: readonly string[], chunkBytesThreshold: number): string[][] {
  const chunks: string[][] = [[]]
  let bytes = 0
  for (const row of rows) {
    ;(chunks[chunks.length - 1] as string[]).push(row)
    bytes += Buffer.byteLength(row) + 1
    if (bytes >= chunkBytesThreshold) {
      chunks.push([])
      bytes = 0
    }
  }
  if (chunks.length > 1 && (chunks[chunks.length - 1] as string[]).length === 0) chunks.pop()
  return chunks
}

/**
 * Writes a report line to stdout synchronously: a child's acknowledgement must be on the pipe
 * before the next operation starts, since a SIGKILL can come at any instant.
 */
export function writeOut(text: string): void {
  const buffer = Buffer.from(text)
  let at = 0
  while (at < buffer.length) {
    try {
      at += writeSync(1, buffer, at)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
    }
  }
}

/**
 * Where the catalog of the closed store in `dir` places each of `handles` (partition and shape
 * id), read from their place records (the engine does not expose it); a shape without one is
 * left out.
 */
export async function catalogPlaces(dir: string, handles: readonly string[]): Promise<Map<string, ShapePlace>> {
  const env = open({ path: join(dir, 'catalog'), readOnly: true, maxDbs: 8 })
  try {
    const places = env.openDB<Buffer, string>({ name: 'places', encoding: 'binary', keyEncoding: 'ordered-binary' })
    const found = new Map<string, ShapePlace>()
    for (const handle of handles) {
      const value = places.getBinary(handle)
      if (value !== undefined) found.set(handle, decodePlace(handle, value))
    }
    return found
  } finally {
    await env.close()
  }
}

/**
 * The shape ids with records in partition `partition` of the closed store in `dir`: in its log,
 * chunk index, snapshot parts or metadata (shared records belong to no one shape).
 */
export async function shapeIdsWithData(dir: string, partition: number): Promise<Set<number>> {
  const env = open({ path: join(dir, 'partitions', String(partition)), readOnly: true, maxDbs: 8 })
  try {
    const ids = new Set<number>()
    for (const name of ['log', 'chunks', 'snapshot']) {
      const db = env.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary' })
      for (const key of db.getKeys()) ids.add(key.readUInt32BE(0))
    }
    const meta = env.openDB<Buffer, number>({ name: 'meta', encoding: 'binary', keyEncoding: 'uint32' })
    for (const shapeId of meta.getKeys()) ids.add(shapeId)
    return ids
  } finally {
    await env.close()
  }
}
