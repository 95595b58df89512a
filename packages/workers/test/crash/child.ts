/**
 * The crash loop's child process: runs the engine on the worker runtime under mixed load until
 * the parent kills it with SIGKILL (see loop.ts).
 *
 * `node --import tsx child.ts <dir> <seed> <epoch> <startTx>`
 *
 * It reopens the store, takes over the live shape of every slot (creating the missing ones),
 * then at once: appends source transactions startTx, startTx + 1, ... (several in flight, into
 * one to three shapes or, as fanouts, into every live shape), writes pg snapshots and
 * snapshots of new shapes (and restarts interrupted ones), hibernates and removes shapes
 * (a removed slot gets a new generation), and runs readers that check what they see.
 *
 * Every line it writes on stdout is written synchronously, an intent before the call and an
 * acknowledgement only after the call's promise resolved, so the parent never believes more
 * than is true:
 *   `resume <shapes>`                 shapes found at open
 *   `create <slot> <gen>`             about to create the shape
 *   `shape <slot> <gen> <handle>`     the shape exists (created, or found at open)
 *   `ready`                           the load starts
 *   `tx <id> <t> <fresh> <dups>`      about to append transaction t (send id) to shapes, as two
 *                                     comma lists (`-` if empty): `fresh` ones were before t when
 *                                     this child found them, `dups` already past t (a replay the
 *                                     engine must skip, idempotently)
 *   `ack <id>`                        that append resolved: durable in every fresh shape
 *   `pg <handle>` / `pgok <handle>`   setPgSnapshot issued / resolved
 *   `snapstart <handle>` / `snap <handle> <0_n>`   makeNewSnapshot issued / resolved
 *   `remove <handle>` / `removed <handle>`         removeShape issued / resolved true
 *   `hib <handle>`                    a hibernation resolved
 *   `reads <n>`                       n reads checked so far (every 50)
 * A reader that sees something wrong, or any unexpected failure: a message on stderr, exit 2.
 */
import { writeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Engine, EngineError, ErrorCode, LogOffset, openEngine, type ShapeHandle } from '@shapestore/engine'
import { prng, writeOut } from '@shapestore/engine/crash-kit'
import { workerRuntime } from '../../src/index.ts'
import {
  engineOptions,
  itemCount,
  itemJson,
  mix,
  parseDefinition,
  parseEntry,
  pgSnapshotOf,
  SLOTS,
  shapeDefinition,
  snapshotRows,
  transactionItems,
} from './workload.ts'

/** Appends outstanding at once, so kills land inside group commits of both writers. */
const IN_FLIGHT = 8
const READERS = 2
/** Share of transactions that go to every live shape (fanouts big enough for shared records). */
const FANOUT_SHARE = 0.15
/** Every this many acknowledged appends, one shape is hibernated or removed. */
const MAINTENANCE_EVERY = 15
const REMOVE_SHARE = 0.35

interface LiveShape {
  readonly slot: number
  readonly gen: number
  readonly handle: ShapeHandle
  removing: boolean
  /** Appends and snapshot writes in flight: a shape is removed only when idle. */
  busy: number
  /** The shape's last transaction when this child found it (0 for a new shape). */
  readonly resumedAt: number
}

function die(error: unknown): never {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
  writeSync(2, `crash child failed: ${text}\n`)
  process.exit(2)
}

function check(ok: boolean, message: () => string): void {
  if (!ok) die(new Error(`reader check: ${message()}`))
}

const [dir, seedText, epochText, startText] = process.argv.slice(2)
if (dir === undefined || seedText === undefined || epochText === undefined || startText === undefined) {
  die('usage: child.ts <dir> <seed> <epoch> <startTx>')
}
const seed = Number(seedText)
const epoch = Number(epochText)
let nextTx = Number(startText)
const random = prng(mix(seed, epoch, 0x5eed))
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T

const engine: Engine = await openEngine({ ...engineOptions(dir), runtime: workerRuntime({ writers: 2, readers: 1 }) })
const live = new Map<number, LiveShape>()
const creating = new Set<number>()
let genCounter = 0

for (const { handle, shape } of engine.listShapes()) {
  const parsed = parseDefinition(shape)
  if (parsed === undefined) die(`a shape this workload never creates: ${JSON.stringify(shape)}`)
  if (live.has(parsed.slot)) die(`two live shapes in slot ${parsed.slot}`)
  const latest = engine.fetchLatestOffset(handle)
  live.set(parsed.slot, { ...parsed, handle, removing: false, busy: 0, resumedAt: latest.isReal ? latest.tx : 0 })
}
writeOut(`resume ${live.size}\n`)
for (const shape of live.values()) writeOut(`shape ${shape.slot} ${shape.gen} ${shape.handle}\n`)
writeOut('ready\n')

/** Reads the snapshot region; true if complete, false if absent or interrupted. */
async function snapshotComplete(handle: ShapeHandle): Promise<boolean> {
  try {
    for await (const _ of engine.getLogStream(handle, '-1', '0_inf')) {
      // a complete snapshot reads to its end without error
    }
    return true
  } catch (error) {
    if (EngineError.isCode(error, ErrorCode.SNAPSHOT_INCOMPLETE)) return false
    if (EngineError.isCode(error, ErrorCode.SNAPSHOT_NOT_STARTED)) return false
    throw error
  }
}

/** A new (or resumed) shape gets its pg snapshot and its snapshot, while appends go on. */
async function prepare(shape: LiveShape): Promise<void> {
  shape.busy++
  try {
    if (engine.fetchPgSnapshot(shape.handle) === null) {
      writeOut(`pg ${shape.handle}\n`)
      await engine.setPgSnapshot(shape.handle, pgSnapshotOf(shape.gen))
      writeOut(`pgok ${shape.handle}\n`)
    }
    if (!(await snapshotComplete(shape.handle))) {
      writeOut(`snapstart ${shape.handle}\n`)
      const last = await engine.makeNewSnapshot(shape.handle, snapshotRows(seed, shape.slot, shape.gen))
      writeOut(`snap ${shape.handle} ${last}\n`)
    }
  } finally {
    shape.busy--
  }
}

async function create(slot: number): Promise<void> {
  creating.add(slot)
  const gen = epoch * 100_000 + ++genCounter
  writeOut(`create ${slot} ${gen}\n`)
  const { handle } = await engine.getOrCreateShape(shapeDefinition(slot, gen))
  writeOut(`shape ${slot} ${gen} ${handle}\n`)
  const shape: LiveShape = { slot, gen, handle, removing: false, busy: 0, resumedAt: 0 }
  live.set(slot, shape)
  creating.delete(slot)
  pump()
  await prepare(shape)
}

function fillSlots(): void {
  for (let slot = 0; slot < SLOTS; slot++) {
    if (!live.has(slot) && !creating.has(slot)) create(slot).catch(die)
  }
}

let inFlight = 0
let sendId = 0
let acked = 0

function pump(): void {
  while (inFlight < IN_FLIGHT) {
    const candidates = [...live.values()].filter((shape) => !shape.removing)
    if (candidates.length === 0) return
    let targets: LiveShape[]
    if (random() < FANOUT_SHARE) targets = candidates
    else {
      const wanted = 1 + Math.floor(random() * 3)
      targets = [...new Set(Array.from({ length: wanted }, () => pick(candidates)))]
    }
    targets.sort((a, b) => a.slot - b.slot)
    const t = nextTx++
    const id = ++sendId
    // A shape already past t (a replay after a restart) must skip it: reported apart, as `dups`.
    const fresh = targets.filter((shape) => shape.resumedAt < t).map((shape) => shape.handle)
    const dups = targets.filter((shape) => shape.resumedAt >= t).map((shape) => shape.handle)
    writeOut(`tx ${id} ${t} ${fresh.join(',') || '-'} ${dups.join(',') || '-'}\n`)
    const entries = targets.map((shape) => ({ handle: shape.handle, items: transactionItems(seed, shape.slot, t) }))
    for (const shape of targets) shape.busy++
    inFlight++
    const appended =
      entries.length === 1 ? engine.appendToLog(entries[0]!.handle, entries[0]!.items) : engine.appendToLogs(entries)
    appended.then(() => {
      writeOut(`ack ${id}\n`)
      for (const shape of targets) shape.busy--
      inFlight--
      if (++acked % MAINTENANCE_EVERY === 0) maintain()
      pump()
    }, die)
  }
}

/** Hibernates a shape, or removes one (its slot then gets a new generation). */
function maintain(): void {
  const shapes = [...live.values()].filter((shape) => !shape.removing)
  if (shapes.length === 0) return
  const shape = pick(shapes)
  if (random() < REMOVE_SHARE) {
    // No new appends go to it; it is removed once its appends and snapshot writes are done.
    shape.removing = true
    remove(shape).catch(die)
    return
  }
  engine.hibernate(shape.handle).then(() => writeOut(`hib ${shape.handle}\n`), die)
}

async function remove(shape: LiveShape): Promise<void> {
  while (shape.busy > 0) await sleep(1)
  writeOut(`remove ${shape.handle}\n`)
  if (!(await engine.removeShape(shape.handle))) die(`removeShape(${shape.handle}) found no shape`)
  writeOut(`removed ${shape.handle}\n`)
  live.delete(shape.slot)
  fillSlots()
}

// ---- readers: each read is checked against the workload ----

let reads = 0

/** The shape is gone (or going) from this process' point of view: a failed read is expected. */
function gone(shape: LiveShape): boolean {
  return shape.removing || live.get(shape.slot) !== shape
}

/** Log entries of whole transactions of the slot, in strictly increasing order, none past `upTo`. */
function checkLog(shape: LiveShape, entries: readonly string[], since: LogOffset, upTo: LogOffset): void {
  let previous = since
  let i = 0
  while (i < entries.length) {
    const first = parseEntry(entries[i] as string)
    const count = itemCount(seed, shape.slot, first.t)
    for (let k = 0; k < count; k++, i++) {
      const json = entries[i]
      check(
        json === itemJson(seed, shape.slot, first.t, k),
        () => `${shape.handle}: entry ${i} is ${json}, expected item ${k} of tx ${first.t}`,
      )
    }
    const last = LogOffset.of(first.t, 2 * (count - 1))
    check(LogOffset.of(first.t, 0).isAfter(previous), () => `${shape.handle}: tx ${first.t} follows ${previous}`)
    check(!last.isAfter(upTo), () => `${shape.handle}: tx ${first.t} is past ${upTo}`)
    previous = last
  }
  if (upTo.isReal && upTo.isAfter(since)) {
    check(previous.toString() === upTo.toString(), () => `${shape.handle}: read ended at ${previous}, latest ${upTo}`)
  }
}

async function readOnce(shape: LiveShape, seen: Map<ShapeHandle, LogOffset>): Promise<void> {
  const { handle } = shape
  const latest = engine.fetchLatestOffset(handle)
  const before = seen.get(handle)
  // Real offsets never go back; before the first transaction 0_inf turns into 0_n when the snapshot completes.
  check(
    before?.isReal !== true || (latest.isReal && !latest.isBefore(before)),
    () => `${handle}: latest went back from ${before} to ${latest}`,
  )
  const persisted = engine.fetchLastPersistedOffset(handle)
  check(!persisted.isBefore(latest), () => `${handle}: persisted ${persisted} before latest ${latest}`)
  seen.set(handle, latest)
  if (latest.isReal) {
    const since = before?.isReal === true && random() < 0.5 ? before : LogOffset.LAST_BEFORE_REAL
    let entries: string[]
    if (random() < 0.3) {
      entries = (JSON.parse((await engine.getLogJson(handle, since, latest)).toString('utf8')) as unknown[]).map(
        (row) => JSON.stringify(row),
      )
    } else {
      entries = []
      for await (const json of engine.getLogStream(handle, since, latest)) entries.push(json)
    }
    checkLog(shape, entries, since, latest)
  }
  if (random() < 0.1) {
    // The snapshot, possibly while it is written: what is there is an exact prefix.
    const rows = snapshotRows(seed, shape.slot, shape.gen)
    let n = 0
    try {
      for await (const json of engine.getLogStream(handle, '-1', '0_inf')) {
        check(json === rows[n], () => `${handle}: snapshot row ${n} is ${json}`)
        n++
      }
      check(n === rows.length, () => `${handle}: snapshot has ${n} of ${rows.length} rows`)
    } catch (error) {
      if (
        !EngineError.isCode(error, ErrorCode.SNAPSHOT_INCOMPLETE) &&
        !EngineError.isCode(error, ErrorCode.SNAPSHOT_NOT_STARTED)
      )
        throw error
    }
  }
  if (random() < 0.1) await engine.waitForOffset(handle, latest, { timeoutMs: 20 })
  if (++reads % 50 === 0) writeOut(`reads ${reads}\n`)
}

async function reader(): Promise<void> {
  const seen = new Map<ShapeHandle, LogOffset>()
  for (;;) {
    const shapes = [...live.values()]
    if (shapes.length === 0) {
      await sleep(5)
      continue
    }
    const shape = pick(shapes)
    try {
      await readOnce(shape, seen)
    } catch (error) {
      const expected =
        EngineError.isCode(error, ErrorCode.UNKNOWN_HANDLE) || EngineError.isCode(error, ErrorCode.SHAPE_REMOVED)
      if (!(expected && gone(shape))) die(error)
    }
    await sleep(0)
  }
}

for (const shape of live.values()) prepare(shape).catch(die)
fillSlots()
pump()
for (let r = 0; r < READERS; r++) reader().catch(die)
