import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openEngine } from '@shapestore/engine'
import { Presets, SingleBar } from 'cli-progress'

/**
 * Seeded benchmark data: N shapes, each with a small snapshot and a few transactions of
 * ~200-byte rows. A seed is reused when its marker matches the wanted parameters, so a second
 * `pnpm bench` starts measuring at once.
 */
export interface SeedSpec {
  readonly shapes: number
  readonly snapshotRows: number
  readonly transactions: number
  readonly rowsPerTransaction: number
}

export interface Seed {
  readonly dir: string
  readonly handles: readonly string[]
  readonly reused: boolean
}

/**
 * 6: written in data format 4 as it is now (sealed catalog values and place records, sealed metadata records,
 * chained log entries); an
 * older seed would time the reading of records a server no longer writes.
 */
const SEED_VERSION = 6
/** Shapes seeded concurrently: their writes share group commits. */
const SEED_CONCURRENCY = 1000

export function row(shape: number, n: number): string {
  return JSON.stringify({
    key: `"public"."items"/"${shape}-${n}"`,
    value: { id: `${shape}-${n}`, title: `item ${n} of shape ${shape}`, body: 'x'.repeat(96) },
    headers: { operation: 'insert' },
  })
}

export async function ensureSeed(dir: string, spec: SeedSpec): Promise<Seed> {
  const markerPath = join(dir, 'seed.json')
  const marker = { version: SEED_VERSION, ...spec }
  if (existsSync(markerPath)) {
    const found = JSON.parse(readFileSync(markerPath, 'utf8')) as typeof marker & { handles: string[] }
    const { handles, ...params } = found
    if (JSON.stringify(params) === JSON.stringify(marker) && handles.length === spec.shapes) {
      return { dir, handles, reused: true }
    }
  }
  rmSync(dir, { recursive: true, force: true })
  const engine = await openEngine({ dir })
  const handles: string[] = new Array(spec.shapes)
  const bar = new SingleBar(
    { format: `seeding ${spec.shapes} shapes [{bar}] {value}/{total} {eta}s`, hideCursor: true, noTTYOutput: true },
    Presets.shades_classic,
  )
  bar.start(spec.shapes, 0)
  try {
    for (let start = 0; start < spec.shapes; start += SEED_CONCURRENCY) {
      const end = Math.min(spec.shapes, start + SEED_CONCURRENCY)
      const work: Promise<void>[] = []
      for (let i = start; i < end; i++) work.push(seedShape(engine, i, spec, handles))
      await Promise.all(work)
      bar.update(end)
    }
  } finally {
    bar.stop()
    await engine.close()
  }
  writeFileSync(markerPath, JSON.stringify({ ...marker, handles }))
  return { dir, handles, reused: false }
}

async function seedShape(
  engine: Awaited<ReturnType<typeof openEngine>>,
  i: number,
  spec: SeedSpec,
  handles: string[],
): Promise<void> {
  const { handle } = await engine.getOrCreateShape({ table: 'items', where: `shape = ${i}` })
  handles[i] = handle
  await engine.setPgSnapshot(handle, { xmin: 100, xmax: 100, xipList: [], filterTxns: false })
  await engine.makeNewSnapshot(
    handle,
    Array.from({ length: spec.snapshotRows }, (_, n) => row(i, n)),
  )
  for (let tx = 1; tx <= spec.transactions; tx++) {
    await engine.appendToLog(
      handle,
      Array.from({ length: spec.rowsPerTransaction }, (_, n) => ({
        offset: `${tx}_${n * 2}`,
        key: `"public"."items"/"${i}-${tx}-${n}"`,
        op: 'insert' as const,
        json: row(i, tx * 1000 + n),
      })),
    )
  }
}
