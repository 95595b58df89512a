// Damage met by a read, page by page: each trial garbles one 4 KiB page of a partition's data
// file (or, with `--file catalog`, of the catalog's) in a copy of a store (its 24-byte page
// header kept, the rest partly or wholly rewritten, seeded), then reads every shape back in a new
// process (read-all.ts): its rows, and what the catalog says of it (its definition, the handle
// its definition finds, its latest offset, and the list of all shapes). Counted: trials refused
// at open, reads that returned exactly what was stored, reads that failed with STORAGE_CORRUPT,
// reads that returned something else, reads that failed any other way, and processes that died.
//
//   pnpm test:damaged-pages [--trials 100] [--seed 1] [--runtime inline|workers|both] [--only 3,33]
//                           [--file partitions|catalog]
//
// `--only` runs those trials of the seed alone (each garbles as it does in a full run).
// Exits non-zero if any read returned wrong rows or failed uncoded, or a process died.
import { spawnSync } from 'node:child_process'
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { inlineRuntime, openEngine } from '@shapestore/engine'
import { prng } from '@shapestore/engine/crash-kit'
import { open } from 'lmdb'

const PAGE = 4096
/** lmdb-js' LMDB pages start with 24 bytes: pgno, txnid, pad, flags, lower, upper (src/integrity/lmdb-header.ts). */
const PAGE_HEADER = 24
const PARTITIONS = 2
const SHAPES = 24
/** Shapes with no data besides those: enough catalog records for B-trees below the catalog's roots. */
const CATALOG_ONLY_SHAPES = 600
const READER = fileURLToPath(new URL('./read-all.ts', import.meta.url))

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    runtime: { type: 'string', default: 'both' },
    only: { type: 'string' },
    file: { type: 'string', default: 'partitions' },
  },
})
if (values.file !== 'partitions' && values.file !== 'catalog') {
  console.error(`--file must be partitions or catalog, got ${values.file}`)
  process.exit(2)
}
const garbleCatalog = values.file === 'catalog'
const trials = Number(values.trials)
const seed = Number(values.seed)
const runtimes = values.runtime === 'both' ? ['inline', 'workers'] : [values.runtime as string]
const trialNumbers =
  values.only === undefined ? Array.from({ length: trials }, (_, i) => i) : values.only.split(',').map(Number)

/** A store big enough for B-trees below their roots: snapshots in many chunks, own and shared transactions. */
async function makeStore(dir: string): Promise<Expected> {
  const engine = await openEngine({ dir, partitions: PARTITIONS, chunkBytesThreshold: 2048, runtime: inlineRuntime() })
  try {
    const handles: string[] = []
    for (let i = 0; i < SHAPES; i++) {
      const { handle } = await engine.getOrCreateShape({ table: 'items', where: `i = ${i}` })
      handles.push(handle)
      await engine.makeNewSnapshot(
        handle,
        Array.from({ length: 120 }, (_, r) => JSON.stringify({ shape: i, row: r, pad: 'x'.repeat(60) })),
      )
      for (let t = 1; t <= 12; t++) {
        const items = Array.from({ length: 6 }, (_, op) => ({
          offset: `${t * 10}_${op}`,
          key: `"public"."items"/"${i}-${t}-${op}"`,
          op: 'insert' as const,
          json: JSON.stringify({ shape: i, tx: t, op, pad: 'y'.repeat(80) }),
        }))
        await engine.appendToLog(handle, items)
      }
    }
    const shared = Array.from({ length: 6 }, (_, op) => ({
      offset: `500_${op}`,
      key: `"public"."items"/"shared-${op}"`,
      op: 'insert' as const,
      json: JSON.stringify({ shared: op, pad: 'z'.repeat(80) }),
    }))
    await engine.appendToLogs(handles.map((handle) => ({ handle, items: shared })))
    const rows: Record<string, string[]> = {}
    for (const handle of handles) {
      const read: string[] = []
      for await (const row of engine.getLogStream(handle, '-1')) read.push(row)
      rows[handle] = read
    }
    for (let i = 0; i < CATALOG_ONLY_SHAPES; i++) {
      await engine.getOrCreateShape({ table: 'others', where: `n = ${i}`, columns: ['id', `c${i % 7}`] })
    }
    const shapes = [...engine.listShapes()].map(({ handle, shape }) => ({
      handle,
      shape,
      latest: String(engine.fetchLatestOffset(handle)),
    }))
    return { rows, shapes }
  } finally {
    await engine.close()
  }
}

/** Pages of the LMDB environment in `path` that its last commit uses (its last page number + 1). */
function usedPages(path: string): number {
  const env = open({ path, readOnly: true })
  try {
    return (env as unknown as { env: { info(): { lastPageNumber: number } } }).env.info().lastPageNumber + 1
  } finally {
    env.close()
  }
}

/** Garbles one page (not a meta page) of one partition's data file, or the catalog's; returns what it did. */
function garblePage(dir: string, random: () => number): string {
  const partition = Math.floor(random() * PARTITIONS)
  const envDir = garbleCatalog ? join(dir, 'catalog') : join(dir, 'partitions', String(partition))
  const fd = openSync(join(envDir, 'data.mdb'), 'r+')
  try {
    // The pages LMDB uses: the engine keeps zeros past them (tail-padding.ts), not data.
    const pages = usedPages(envDir)
    const page = 2 + Math.floor(random() * (pages - 2))
    const how = Math.floor(random() * 3)
    let at = PAGE_HEADER
    let length = PAGE - PAGE_HEADER
    if (how === 0) length = 1 + Math.floor(random() * 8)
    if (how === 1) length = 16 + Math.floor(random() * 496)
    if (how !== 2) at += Math.floor(random() * (PAGE - PAGE_HEADER - length))
    const bytes = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)))
    writeSync(fd, bytes, 0, length, page * PAGE + at)
    return `${garbleCatalog ? 'catalog' : `partition ${partition}`} page ${page}/${pages}: ${length} bytes at ${at}`
  } finally {
    closeSync(fd)
  }
}

/** What the pristine store holds: each data shape's rows; every shape's definition and latest offset. */
export interface Expected {
  readonly rows: Record<string, string[]>
  readonly shapes: ReadonlyArray<{ handle: string; shape: unknown; latest: string }>
}

const root = mkdtempSync(join(tmpdir(), 'damaged-pages-'))
let failed = false
try {
  const pristine = join(root, 'pristine')
  const expected = await makeStore(pristine)
  const expectedFile = join(root, 'expected.json')
  writeFileSync(expectedFile, JSON.stringify(expected))
  for (const runtime of runtimes) {
    const tally = {
      trials: 0,
      refusedAtOpen: 0,
      reads: 0,
      exact: 0,
      corrupt: 0,
      wrongRows: 0,
      otherErrors: 0,
      deadProcesses: 0,
    }
    for (const trial of trialNumbers) {
      const copy = join(root, 'trial')
      rmSync(copy, { recursive: true, force: true })
      cpSync(pristine, copy, { recursive: true })
      const what = `${runtime} trial ${trial} (seed ${seed}): ${garblePage(copy, prng(seed * 100_000 + trial))}`
      const run = spawnSync(process.execPath, ['--import', 'tsx', READER, copy, runtime, expectedFile], {
        encoding: 'utf8',
        timeout: 120_000,
      })
      tally.trials++
      const line = run.stdout.trim().split('\n').at(-1) ?? ''
      if (run.status !== 0 || !line.startsWith('{')) {
        tally.deadProcesses++
        console.log(
          `DEAD ${what}: status ${run.status} signal ${run.signal} ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        )
        continue
      }
      const result = JSON.parse(line) as { refused?: string; reads?: string[] }
      if (result.refused !== undefined) {
        if (result.refused === 'corrupt') tally.refusedAtOpen++
        else {
          tally.otherErrors++
          console.log(`OPEN ${what}: ${result.refused}`)
        }
        continue
      }
      for (const outcome of result.reads ?? []) {
        tally.reads++
        if (outcome === 'exact') tally.exact++
        else if (outcome === 'corrupt') tally.corrupt++
        else if (outcome.startsWith('wrong')) tally.wrongRows++
        else tally.otherErrors++
        if (outcome !== 'exact' && outcome !== 'corrupt') console.log(`${outcome.slice(0, 300)}: ${what}`)
      }
    }
    console.log(`damaged pages, ${runtime}: ${JSON.stringify(tally)}`)
    if (tally.wrongRows + tally.otherErrors + tally.deadProcesses > 0) failed = true
  }
} finally {
  rmSync(root, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
