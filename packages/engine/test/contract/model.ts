/**
 * Proves that, for every generated (seeded, replayable) sequence of shape creations and removals, valid, replayed,
 * invalid, fan-out (shared-record) and concurrently issued appends, pg-snapshot / snapshot-started / snapshot writes
 * (including failed attempts, retries and readers tailing them), hibernations and close+reopen cycles, every
 * observable answer of the engine (offsets, flags, pg snapshot, full, ranged and chunk-by-chunk log streams, chunk
 * ends, error codes, shape catalog) equals that of a small in-memory model of the documented semantics.
 *
 * Exported so the same property runs on every runtime: test/model.test.ts (inline, 60 runs) and
 * packages/workers/test/model-worker.test.ts (writer threads, 10 runs).
 *
 * Replay a failure with the line it prints: MODEL_SEED=<seed> MODEL_PATH=<path> MODEL_REPLAY_PATH='<replayPath>'
 *   node --import tsx --test test/model.test.ts   (the replayPath hint comes from the counterexample's replayPath comment)
 * Other knobs: MODEL_RUNS (default: per runtime), MODEL_MAX_COMMANDS (default 40).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  type Engine,
  EngineError,
  type LogItem,
  LogOffset,
  limits,
  openEngine,
  type PgSnapshot,
  type Runtime,
  type ShapeDefinition,
  type ShapeHandle,
} from '../../src/index.ts'
import type { ContractTarget } from './suite.ts'

// ---------------------------------------------------------------------------------------------
// Offsets of the model: its own tiny representation, independent of the engine's LogOffset.
// ---------------------------------------------------------------------------------------------

/** tx = -1 is `-1` (before all); tx = 0 is the snapshot region (`0_n`, `0_inf`); op = Infinity is `inf`. */
interface Off {
  readonly tx: number
  readonly op: number
}

const BEFORE_ALL: Off = { tx: -1, op: 0 }
const SNAPSHOT_END: Off = { tx: 0, op: Number.POSITIVE_INFINITY }
const chunkOff = (n: number): Off => ({ tx: 0, op: n })

function cmp(a: Off, b: Off): number {
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1
  if (a.op === b.op) return 0
  return a.op < b.op ? -1 : 1
}

function fmt(o: Off): string {
  if (o.tx === -1) return '-1'
  return `${o.tx}_${o.op === Number.POSITIVE_INFINITY ? 'inf' : o.op}`
}

function parseOff(text: string): Off {
  if (text === '-1') return BEFORE_ALL
  const [tx, op] = text.split('_')
  return { tx: Number(tx), op: op === 'inf' ? Number.POSITIVE_INFINITY : Number(op) }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

type OpKind = 'insert' | 'update' | 'delete'

interface ModelItem {
  readonly off: Off
  readonly key: string
  readonly op: OpKind
  readonly json: string
}

interface ShapeModel {
  readonly handle: ShapeHandle
  readonly def: number
  readonly log: ModelItem[]
  /** JSON bytes of the open log chunk. */
  openChunkBytes: number
  /** Last offsets of the closed log chunks, ascending. */
  readonly chunkEnds: Off[]
  pg: PgSnapshot | null
  started: boolean
  /** The complete snapshot's chunks (rows per chunk), or null while there is none. */
  snapshot: string[][] | null
}

interface Model {
  readonly threshold: number
  /** def index -> the live shape of that definition. */
  readonly live: Map<number, ShapeModel>
  /** Removed handles, in removal order. */
  readonly dead: ShapeHandle[]
  /** Every handle the engine ever gave out in this run. */
  readonly issued: Set<ShapeHandle>
  /** The highest source transaction used so far (the "LSN" that drives fresh offsets). */
  lsn: number
}

interface Real {
  engine: Engine
  readonly dir: string
  readonly threshold: number
  /** A fresh runtime for every (re)open. */
  readonly runtime: () => Runtime
}

const PARTITIONS = 2

/** A stalled snapshot reader fails after 10 s instead of the default 60 s. */
const engineOptions = (r: Pick<Real, 'dir' | 'threshold' | 'runtime'>) => ({
  dir: r.dir,
  runtime: r.runtime(),
  chunkBytesThreshold: r.threshold,
  partitions: PARTITIONS,
  snapshotStallTimeoutMs: 10_000,
})

const DEFS: ReadonlyArray<{ readonly canonical: ShapeDefinition; readonly variants: readonly ShapeDefinition[] }> = [
  {
    canonical: { table: '"public"."items"', where: 'id = 1', replica: 'default' },
    variants: [
      { table: 'items', where: 'id = 1' },
      { table: 'public.items', where: '  id = 1 ' },
      { table: 'ITEMS', where: 'id = 1', replica: 'default' },
    ],
  },
  {
    canonical: { table: '"public"."items"', where: 'id = 2', replica: 'default' },
    variants: [
      { table: 'items', where: 'id = 2' },
      { table: 'Public.Items', where: 'id = 2' },
    ],
  },
  {
    // Same table and where as def 0, but replica full: a different shape.
    canonical: { table: '"public"."items"', where: 'id = 1', replica: 'full' },
    variants: [
      { table: 'items', where: 'id = 1', replica: 'full' },
      { table: '"public"."items"', where: 'id = 1 ', replica: 'full' },
    ],
  },
  {
    canonical: { table: '"public"."other"', columns: ['a', 'b'], replica: 'default' },
    variants: [
      { table: 'other', columns: ['b', 'a'] },
      { table: 'public.other', columns: ['a', 'b'] },
    ],
  },
  // Defs 4-7 are created less often: with all eight live, one partition holds at least four shapes, enough for a
  // fan-out of one items array to be stored as a shared record (SHARED_RECORD_SHAPES_MIN).
  ...[3, 4, 5, 6].map((id) => ({
    canonical: { table: '"public"."items"', where: `id = ${id}`, replica: 'default' as const },
    variants: [
      { table: 'items', where: `id = ${id}` },
      { table: 'public.ITEMS', where: ` id = ${id}` },
    ],
  })),
]

const variantOf = (def: number, alias: number): ShapeDefinition => {
  const variants = DEFS[def]!.variants
  return variants[alias % variants.length]!
}

/** The live shape a command parameter designates: `target` mod the live count, in definition order. */
function pickLive(m: Model, target: number): ShapeModel | undefined {
  const live = [...m.live.values()].sort((a, b) => a.def - b.def)
  return live.length === 0 ? undefined : live[target % live.length]
}

function lastOff(s: ShapeModel): Off | null {
  return s.log.at(-1)?.off ?? null
}

/** fetchLatestOffset: last log offset; else `0_n` of a complete snapshot; else `0_inf`. */
function latestOf(s: ShapeModel): Off {
  const last = lastOff(s)
  if (last !== null) return last
  if (s.snapshot !== null) return chunkOff(s.snapshot.length - 1)
  return SNAPSHOT_END
}

/** Appends the items after the shape's last offset (earlier ones are a replay: skipped). */
function applyItems(m: Model, s: ShapeModel, items: readonly ModelItem[]): void {
  for (const item of items) {
    const last = lastOff(s)
    if (last !== null && cmp(item.off, last) <= 0) continue
    s.log.push(item)
    s.openChunkBytes += Buffer.byteLength(item.json)
    if (s.openChunkBytes >= m.threshold) {
      s.chunkEnds.push(item.off)
      s.openChunkBytes = 0
    }
  }
}

/** Electric's snapshot chunking: row = bytes + 1; a chunk ends after the row reaching the threshold. */
function chunkRows(rows: readonly string[], threshold: number): string[][] {
  const chunks: string[][] = []
  let current: string[] = []
  let bytes = 0
  for (const row of rows) {
    current.push(row)
    bytes += Buffer.byteLength(row) + 1
    if (bytes >= threshold) {
      chunks.push(current)
      current = []
      bytes = 0
    }
  }
  if (current.length > 0 || chunks.length === 0) chunks.push(current)
  return chunks
}

type StreamResult = { readonly rows: readonly string[] } | { readonly error: string }

/** getLogStream(since, upTo): snapshot chunk n's rows sit at `0_n`, log items at their offsets. */
function expectedStream(s: ShapeModel, since: Off, upTo: Off): StreamResult {
  if (cmp(upTo, since) <= 0) return { rows: [] }
  const rows: string[] = []
  if (cmp(since, SNAPSHOT_END) < 0) {
    const first = since.tx === -1 ? 0 : since.op + 1
    // The range covers a snapshot chunk offset: it reads the snapshot region.
    if (cmp(chunkOff(first), upTo) <= 0) {
      if (s.snapshot === null) return { error: s.started ? 'SNAPSHOT_INCOMPLETE' : 'SNAPSHOT_NOT_STARTED' }
      for (let n = first; n < s.snapshot.length && cmp(chunkOff(n), upTo) <= 0; n++) rows.push(...s.snapshot[n]!)
    }
  }
  for (const item of s.log) if (cmp(item.off, since) > 0 && cmp(item.off, upTo) <= 0) rows.push(item.json)
  return { rows }
}

function expectedChunkEnd(s: ShapeModel, o: Off): Off | null {
  if (o.tx === -1) return chunkOff(0)
  if (o.tx === 0 && o.op !== Number.POSITIVE_INFINITY) {
    if (s.snapshot === null || o.op < s.snapshot.length - 1) return chunkOff(o.op + 1)
  }
  const from = cmp(o, SNAPSHOT_END) > 0 ? o : SNAPSHOT_END
  return s.chunkEnds.find((end) => cmp(end, from) > 0) ?? null
}

/** Offsets worth asking about for a shape: region edges, every log offset and its neighbour, chunk ends. */
function probesOf(m: Model, s: ShapeModel): Off[] {
  const probes: Off[] = [BEFORE_ALL]
  const snapshotChunks = s.snapshot?.length ?? 2
  for (let n = 0; n <= snapshotChunks; n++) probes.push(chunkOff(n))
  probes.push(SNAPSHOT_END, { tx: 1, op: 0 })
  for (const item of s.log) probes.push(item.off, { tx: item.off.tx, op: item.off.op + 1 })
  probes.push({ tx: m.lsn + 1, op: 0 }, { tx: m.lsn + 1, op: Number.POSITIVE_INFINITY })
  return probes
}

/** After every command, a cheaper subset: region edges, chunk ends and their neighbours, a spread of log offsets. */
function sampledProbesOf(m: Model, s: ShapeModel): Off[] {
  const probes: Off[] = [BEFORE_ALL, SNAPSHOT_END, { tx: 1, op: 0 }, { tx: m.lsn + 1, op: 0 }]
  const snapshotChunks = s.snapshot?.length ?? 2
  for (let n = 0; n <= snapshotChunks; n++) probes.push(chunkOff(n))
  for (const end of s.chunkEnds) {
    probes.push(end, { tx: end.tx, op: end.op + 1 })
    if (end.op > 0) probes.push({ tx: end.tx, op: end.op - 1 })
  }
  const stride = Math.max(1, Math.ceil(s.log.length / 16))
  for (let i = s.log.length - 1; i >= 0; i -= stride) probes.push(s.log[i]!.off)
  return probes
}

// ---------------------------------------------------------------------------------------------
// Command parameters (generated up front; resolved against the model when run)
// ---------------------------------------------------------------------------------------------

interface FreshItem {
  readonly step: number
  readonly payload: string
  readonly op: OpKind
}

interface TxnSpec {
  /** Continue the shape's last transaction (same tx, later ops) instead of starting a new one. */
  readonly sameTx: boolean
  readonly txDelta: number
  readonly opStart: number
  readonly items: readonly FreshItem[]
}

interface AppendSpec {
  /** Re-send this many of the shape's last log items first (an idempotent replay). */
  readonly replayBack: number
  /** Re-send them with different JSON: a replay must not rewrite anything. */
  readonly mutateReplay: boolean
  /** Prepend an item at `1_0` (at or below any last offset: skipped unless the log is empty). */
  readonly ghost: boolean
  readonly txn: TxnSpec
}

const BAD_KINDS = [
  'outOfOrder',
  'zeroTx',
  'beforeAll',
  'infOp',
  'garbage',
  'tooBig',
  'offsetNumber',
  'badOpType',
  'jsonNotString',
  'keyNotString',
  'notObject',
] as const
type BadKind = (typeof BAD_KINDS)[number]

interface BadSpec {
  readonly kind: BadKind
  readonly pos: number
  readonly pick: number
}

const GARBAGE_OFFSETS = ['', 'abc', '1_', '_1', '1.5_2', '-2_0', '1_-1', ' 1_2', '0x1_2', '1_2 ', 'inf_1', '1_2_3']

interface PgSpec {
  readonly xmin: number
  readonly xmax: number
  readonly xipList: readonly number[]
  readonly filterTxns: boolean
  readonly invalid:
    | null
    | 'negativeXmin'
    | 'fractionalXmax'
    | 'xipNotArray'
    | 'badXip'
    | 'filterNotBoolean'
    | 'xminAboveXmax'
    | 'xipOutside'
}

type RowSpec =
  | { readonly kind: 'small'; readonly payload: string }
  /** Counts threshold - under bytes: closes a chunk on its own (under = 0) or nearly. */
  | { readonly kind: 'exact'; readonly under: number }
  /** Hundreds of KiB: with the large threshold, a chunk is committed in several parts (SNAPSHOT_PART_BYTES). */
  | { readonly kind: 'big'; readonly kib: number }

type FanoutFault = null | 'badItem' | 'duplicate' | 'deadHandle' | 'badHandle'

interface FanoutSpec {
  readonly defs: readonly number[]
  /** Per entry: which of the transaction's items this shape gets (bit i = item i). */
  readonly masks: readonly number[]
  /** Re-send the latest source transaction (tx = lsn) instead of a new one. */
  readonly global: boolean
  /** Send to every live shape, ignoring `defs`. */
  readonly allLive: boolean
  /** Every entry gets the same items array (the whole transaction; `masks` ignored): the shared-record path. */
  readonly share: boolean
  readonly txn: TxnSpec
  readonly fault: FanoutFault
  readonly faultPos: number
  readonly bad: BadSpec
}

type WriteOp =
  | { readonly kind: 'append'; readonly target: number; readonly spec: AppendSpec }
  | { readonly kind: 'invalid'; readonly target: number; readonly spec: AppendSpec; readonly bad: BadSpec }
  | { readonly kind: 'pg'; readonly target: number; readonly pg: PgSpec }
  | { readonly kind: 'mark'; readonly target: number }
  | { readonly kind: 'hibernate'; readonly target: number }
  | {
      readonly kind: 'snapshot'
      readonly target: number
      readonly rows: readonly RowSpec[]
      /** Rows come from an async generator that yields to the event loop before each row. */
      readonly slow: boolean
      /** Start a reader from `0_<tailFrom - 1>` (or `-1` for 0) up to `0_inf` while the snapshot is written. */
      readonly tailFrom: number | null
      /** Put a non-string row at this position (mod rows + 1): the call fails part-way with INVALID_ITEM. */
      readonly badRowAt: number | null
    }

// ---------------------------------------------------------------------------------------------
// Building calls from parameters
// ---------------------------------------------------------------------------------------------

function itemJson(tx: number, op: number, payload: string): string {
  return JSON.stringify({ id: `${tx}_${op}`, v: payload })
}

function makeItems(tx: number, firstOp: number, fresh: readonly FreshItem[]): ModelItem[] {
  const items: ModelItem[] = []
  let op = firstOp
  fresh.forEach((f, i) => {
    if (i > 0) op += f.step
    items.push({ off: { tx, op }, key: `k${tx}.${op}`, op: f.op, json: itemJson(tx, op, f.payload) })
  })
  return items
}

/** One transaction for one shape: optional ghost, replayed tail, fresh items. */
function buildAppend(m: Model, s: ShapeModel, spec: AppendSpec): ModelItem[] {
  const last = lastOff(s)
  const replay = (spec.replayBack > 0 ? s.log.slice(-spec.replayBack) : []).map((item) =>
    spec.mutateReplay ? { ...item, json: itemJson(item.off.tx, item.off.op, 'REPLAYED-WITH-OTHER-JSON') } : item,
  )
  const fresh =
    spec.txn.sameTx && last !== null
      ? makeItems(last.tx, last.op + (spec.txn.items[0]?.step ?? 1), spec.txn.items)
      : makeItems(m.lsn + spec.txn.txDelta, spec.txn.opStart, spec.txn.items)
  const items = [...replay, ...fresh]
  const first = items[0]
  if (spec.ghost && (first === undefined || cmp(first.off, { tx: 1, op: 0 }) > 0)) {
    items.unshift({ off: { tx: 1, op: 0 }, key: 'ghost', op: 'update', json: itemJson(1, 0, 'ghost') })
  }
  return items
}

/** The API form; odd ops pass a LogOffset object, even ones the string. */
function toLogItem(item: ModelItem): LogItem {
  const text = fmt(item.off)
  return { offset: item.off.op % 2 === 1 ? LogOffset.parse(text) : text, key: item.key, op: item.op, json: item.json }
}

function bumpLsn(m: Model, items: readonly ModelItem[]): void {
  for (const item of items) m.lsn = Math.max(m.lsn, item.off.tx)
}

/** Puts one bad item into a valid transaction; returns the items and the code the call must reject with. */
function injectBad(valid: readonly ModelItem[], bad: BadSpec): { items: unknown[]; code: string } {
  const items: unknown[] = valid.map(toLogItem)
  const fallbackTx = valid[0]?.off.tx ?? 1
  const insertAt = bad.pos % (items.length + 1)
  const insert = (offset: unknown, code: string) => {
    items.splice(insertAt, 0, { offset, key: 'bad', op: 'insert', json: '{"bad":true}' })
    return { items, code }
  }
  let kind: BadKind = bad.kind
  if (valid.length === 0 && (kind === 'outOfOrder' || kind === 'badOpType' || kind === 'jsonNotString')) kind = 'zeroTx'
  if (valid.length === 0 && kind === 'keyNotString') kind = 'beforeAll'
  switch (kind) {
    case 'outOfOrder': {
      // After item p-1, an offset at or below it (equal when j = p-1).
      const p = 1 + (bad.pos % valid.length)
      const j = bad.pick % p
      items.splice(p, 0, { ...toLogItem(valid[j]!), json: '{"out_of_order":true}' })
      return { items, code: 'OFFSET_OUT_OF_ORDER' }
    }
    case 'zeroTx':
      return insert(`0_${bad.pick % 4}`, 'INVALID_ITEM')
    case 'beforeAll':
      return insert(bad.pick % 2 === 0 ? '-1' : LogOffset.parse('-1'), 'INVALID_ITEM')
    case 'infOp':
      return insert(bad.pick % 2 === 0 ? `${fallbackTx}_inf` : '0_inf', 'INVALID_ITEM')
    case 'garbage':
      return insert(GARBAGE_OFFSETS[bad.pick % GARBAGE_OFFSETS.length], 'INVALID_OFFSET')
    case 'tooBig':
      return insert(bad.pick % 2 === 0 ? '9007199254740992_0' : '1_123456789012345678901', 'INVALID_OFFSET')
    case 'offsetNumber':
      return insert(bad.pick % 2 === 0 ? 5 : null, 'INVALID_OFFSET')
    case 'notObject':
      items.splice(insertAt, 0, bad.pick % 2 === 0 ? null : 'item')
      return { items, code: 'INVALID_ITEM' }
    case 'badOpType':
    case 'jsonNotString':
    case 'keyNotString': {
      const at = bad.pos % items.length
      const field = kind === 'badOpType' ? { op: 'upsert' } : kind === 'jsonNotString' ? { json: 42 } : { key: null }
      items[at] = { ...(items[at] as object), ...field }
      return { items, code: 'INVALID_ITEM' }
    }
  }
}

function pgOf(spec: PgSpec): { value: unknown; expected: PgSnapshot | null } {
  const valid: PgSnapshot = {
    xmin: spec.xmin,
    xmax: spec.xmax,
    xipList: [...spec.xipList],
    filterTxns: spec.filterTxns,
  }
  switch (spec.invalid) {
    case null:
      return { value: valid, expected: valid }
    case 'negativeXmin':
      return { value: { ...valid, xmin: -1 }, expected: null }
    case 'fractionalXmax':
      return { value: { ...valid, xmax: 1.5 }, expected: null }
    case 'xipNotArray':
      return { value: { ...valid, xipList: 7 }, expected: null }
    case 'badXip':
      return { value: { ...valid, xipList: [1, -3] }, expected: null }
    case 'filterNotBoolean':
      return { value: { ...valid, filterTxns: 'yes' }, expected: null }
    case 'xminAboveXmax':
      return { value: { ...valid, xmin: valid.xmax + 1, xipList: [] }, expected: null }
    case 'xipOutside':
      return { value: { ...valid, xipList: [...valid.xipList, valid.xmax] }, expected: null }
  }
}

function rowsOf(specs: readonly RowSpec[], threshold: number): string[] {
  // `{"p":""}` is 8 bytes: an exact row counts threshold - under bytes (+1 for the row).
  return specs.map((r, i) => {
    if (r.kind === 'small') return JSON.stringify({ i, v: r.payload })
    if (r.kind === 'exact') return JSON.stringify({ p: 'x'.repeat(threshold - 1 - 8 - r.under) })
    return JSON.stringify({ i, big: String.fromCharCode(97 + (i % 26)).repeat(r.kib * 1024) })
  })
}

// ---------------------------------------------------------------------------------------------
// Checking the engine against the model
// ---------------------------------------------------------------------------------------------

async function expectCode(what: string, call: () => unknown, code: string): Promise<void> {
  let result: unknown
  try {
    result = call()
    if (result instanceof Promise) result = await result
    else if (result !== null && typeof result === 'object' && Symbol.asyncIterator in result) {
      for await (const _ of result as AsyncIterable<string>) {
        // drain: errors raised while iterating count as the call's
      }
    }
  } catch (error) {
    assert.ok(error instanceof EngineError, `${what}: expected EngineError ${code}, got ${String(error)}`)
    assert.equal(error.code, code, `${what}: wrong error code (${error.message})`)
    return
  }
  assert.fail(`${what}: expected ${code}, got ${JSON.stringify(result)}`)
}

/**
 * Reads a whole stream. A failed read is `{ error }`, plus `rowsBeforeError` if it yielded rows before failing: a
 * reader that nothing is written for concurrently must fail before yielding anything (never part of a bad snapshot).
 */
async function readStream(
  engine: Engine,
  handle: ShapeHandle,
  since: LogOffset | string,
  upTo?: LogOffset | string,
): Promise<StreamResult | { error: string; rowsBeforeError: string[] }> {
  const rows: string[] = []
  try {
    for await (const row of engine.getLogStream(handle, since, upTo)) rows.push(row)
    return { rows }
  } catch (error) {
    if (!(error instanceof EngineError)) throw error
    return rows.length === 0 ? { error: error.code } : { error: error.code, rowsBeforeError: rows }
  }
}

async function checkStream(r: Real, s: ShapeModel, since: Off, upTo: Off | undefined): Promise<void> {
  const expected = expectedStream(s, since, upTo ?? latestOf(s))
  const actual = await readStream(r.engine, s.handle, fmt(since), upTo === undefined ? undefined : fmt(upTo))
  assert.deepEqual(
    actual,
    expected,
    `getLogStream(def ${s.def}, ${fmt(since)}, ${upTo === undefined ? '<latest>' : fmt(upTo)})`,
  )
}

function checkChunkEnd(r: Real, s: ShapeModel, o: Off): void {
  const actual = r.engine.getChunkEndLogOffset(s.handle, fmt(o))
  const expected = expectedChunkEnd(s, o)
  assert.equal(
    actual === null ? null : actual.toString(),
    expected === null ? null : fmt(expected),
    `getChunkEndLogOffset(def ${s.def}, ${fmt(o)})`,
  )
}

/** Everything observable, after every command. */
async function verify(m: Model, r: Real): Promise<void> {
  const e = r.engine
  const live = [...m.live.values()]
  assert.equal(e.countShapes(), live.length, 'countShapes')
  const handles = live.map((s) => s.handle).sort()
  assert.deepEqual(
    [...e.listShapes()].map((x) => x.handle),
    handles,
    'listShapes handles (in handle order)',
  )
  assert.deepEqual(
    [...e.listShapes({ table: 'items' })].map((x) => x.handle),
    live
      .filter((s) => DEFS[s.def]!.canonical.table === '"public"."items"')
      .map((s) => s.handle)
      .sort(),
    'listShapes({ table: items })',
  )
  for (let def = 0; def < DEFS.length; def++) {
    assert.equal(e.fetchHandleByShape(variantOf(def, 0)), m.live.get(def)?.handle, `fetchHandleByShape(def ${def})`)
  }
  for (const s of live) {
    const what = `def ${s.def} (${s.handle})`
    assert.deepEqual(e.fetchShapeByHandle(s.handle), DEFS[s.def]!.canonical, `fetchShapeByHandle ${what}`)
    const latest = fmt(latestOf(s))
    const latestActual = e.fetchLatestOffset(s.handle)
    assert.ok(latestActual instanceof LogOffset, 'fetchLatestOffset returns a LogOffset')
    assert.equal(latestActual.toString(), latest, `fetchLatestOffset ${what}`)
    assert.equal(e.fetchLastPersistedOffset(s.handle).toString(), latest, `fetchLastPersistedOffset ${what}`)
    assert.equal(e.snapshotStarted(s.handle), s.started, `snapshotStarted ${what}`)
    assert.deepEqual(e.fetchPgSnapshot(s.handle), s.pg, `fetchPgSnapshot ${what}`)
    await checkStream(r, s, SNAPSHOT_END, undefined)
    await checkStream(r, s, BEFORE_ALL, undefined)
    await checkStream(r, s, BEFORE_ALL, SNAPSHOT_END)
    // Chunk by chunk through the snapshot region, as a client does: (-1, 0_0], (0_0, 0_1], ...
    const chunks = Math.min(s.snapshot?.length ?? 2, 4)
    for (let n = 0; n < chunks; n++) await checkStream(r, s, n === 0 ? BEFORE_ALL : chunkOff(n - 1), chunkOff(n))
    for (const o of sampledProbesOf(m, s)) checkChunkEnd(r, s, o)
  }
  for (const handle of m.dead) {
    await expectCode(`fetchLatestOffset(removed ${handle})`, () => e.fetchLatestOffset(handle), 'UNKNOWN_HANDLE')
    assert.equal(e.fetchShapeByHandle(handle), undefined, `fetchShapeByHandle(removed ${handle})`)
  }
}

// ---------------------------------------------------------------------------------------------
// Issuing writes: the model is updated when the call is issued (calls are applied in issue order)
// ---------------------------------------------------------------------------------------------

interface Pending {
  readonly what: string
  readonly settled: Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }>
  readonly code: string | null
  readonly onValue?: (value: unknown) => void
}

function pending(
  what: string,
  promise: Promise<unknown>,
  code: string | null,
  onValue?: (value: unknown) => void,
): Pending {
  // The handlers are attached at once: no rejection is ever unhandled while earlier calls are awaited.
  const settled = promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
  return onValue === undefined ? { what, settled, code } : { what, settled, code, onValue }
}

async function settle(all: readonly Pending[]): Promise<void> {
  for (const p of all) {
    const outcome = await p.settled
    if (outcome.ok) {
      assert.equal(p.code, null, `${p.what}: expected ${p.code}, resolved`)
      p.onValue?.(outcome.value)
    } else {
      const { error } = outcome
      if (p.code === null) throw error
      assert.ok(error instanceof EngineError, `${p.what}: expected EngineError ${p.code}, got ${String(error)}`)
      assert.equal(error.code, p.code, `${p.what}: wrong error code (${error.message})`)
    }
  }
}

/**
 * Issues one write, updating the model as of issue time. `writing`: the shapes whose snapshot an
 * earlier call of the same burst is writing (a second makeNewSnapshot meanwhile is SNAPSHOT_EXISTS).
 */
function issue(m: Model, r: Real, op: WriteOp, writing: Set<ShapeModel>): Pending[] {
  const s = pickLive(m, op.target)
  if (s === undefined) return []
  const e = r.engine
  switch (op.kind) {
    case 'append': {
      const items = buildAppend(m, s, op.spec)
      const promise = e.appendToLog(s.handle, items.map(toLogItem))
      applyItems(m, s, items)
      bumpLsn(m, items)
      return [
        pending(`appendToLog(def ${s.def}, [${items.map((i) => fmt(i.off))}])`, promise, null, (value) =>
          assert.equal(value, undefined),
        ),
      ]
    }
    case 'invalid': {
      const valid = buildAppend(m, s, op.spec)
      const { items, code } = injectBad(valid, op.bad)
      const promise = e.appendToLog(s.handle, items as LogItem[])
      return [pending(`appendToLog(def ${s.def}, ${op.bad.kind})`, promise, code)]
    }
    case 'pg': {
      const { value, expected } = pgOf(op.pg)
      const promise = e.setPgSnapshot(s.handle, value as PgSnapshot)
      if (expected !== null) s.pg = expected
      return [
        pending(
          `setPgSnapshot(def ${s.def}, ${op.pg.invalid ?? 'valid'})`,
          promise,
          expected === null ? 'INVALID_PG_SNAPSHOT' : null,
        ),
      ]
    }
    case 'mark': {
      const promise = e.markSnapshotStarted(s.handle)
      s.started = true
      return [pending(`markSnapshotStarted(def ${s.def})`, promise, null)]
    }
    case 'hibernate':
      return [pending(`hibernate(def ${s.def})`, e.hibernate(s.handle), null)]
    case 'snapshot': {
      const rows: unknown[] = rowsOf(op.rows, m.threshold)
      if (op.badRowAt !== null) rows.splice(op.badRowAt % (rows.length + 1), 0, 42)
      const source = (op.slow ? slowRows(rows) : rows) as Iterable<string> | AsyncIterable<string>
      const promise = e.makeNewSnapshot(s.handle, source)
      const all: Pending[] = []
      if (s.snapshot !== null || writing.has(s)) {
        // Complete, or being written by an earlier call of the same burst.
        all.push(pending(`makeNewSnapshot(def ${s.def}) of an existing snapshot`, promise, 'SNAPSHOT_EXISTS'))
      } else if (op.badRowAt !== null) {
        // Fails part-way: the snapshot has started but stays incomplete until written again.
        writing.add(s)
        s.started = true
        all.push(pending(`makeNewSnapshot(def ${s.def}) with a bad row`, promise, 'INVALID_ITEM'))
      } else {
        writing.add(s)
        const chunks = chunkRows(rows as string[], m.threshold)
        s.snapshot = chunks
        s.started = true
        all.push(
          pending(`makeNewSnapshot(def ${s.def})`, promise, null, (value) => {
            assert.ok(value instanceof LogOffset, 'makeNewSnapshot resolves with a LogOffset')
            assert.equal(value.toString(), fmt(chunkOff(chunks.length - 1)), 'makeNewSnapshot result')
          }),
        )
      }
      if (op.tailFrom !== null) {
        // A reader that starts while the snapshot is being written tails it to its end (or to its failure).
        const since = op.tailFrom === 0 ? BEFORE_ALL : chunkOff(op.tailFrom - 1)
        const shape = s
        // (It may fail after yielding rows if the attempt it tails fails: only its outcome is compared then.)
        const reader = readStream(e, shape.handle, fmt(since), '0_inf').then((result) =>
          'error' in result ? { error: result.error } : result,
        )
        all.push(
          pending(`tailing getLogStream(def ${s.def}, ${fmt(since)}, 0_inf)`, reader, null, (value) =>
            assert.deepEqual(value, expectedStream(shape, since, SNAPSHOT_END), 'tailing reader'),
          ),
        )
      }
      return all
    }
  }
}

async function* slowRows<T>(rows: readonly T[]): AsyncGenerator<T> {
  for (const row of rows) {
    await new Promise<void>((resolve) => setImmediate(resolve))
    yield row
  }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/** Commands run per kind (their check passed), for the coverage line printed at the end. */
const ran = new Map<string, number>()

class Cmd implements fc.AsyncCommand<Model, Real> {
  readonly #label: string
  readonly #pre: (m: Model) => boolean
  readonly #body: (m: Model, r: Real) => Promise<void>

  constructor(label: string, pre: (m: Model) => boolean, body: (m: Model, r: Real) => Promise<void>) {
    this.#label = label
    this.#pre = pre
    this.#body = body
  }

  check(m: Readonly<Model>): boolean {
    return this.#pre(m as Model)
  }

  async run(m: Model, r: Real): Promise<void> {
    const kind = this.#label.replace(/[( ].*$/s, '')
    ran.set(kind, (ran.get(kind) ?? 0) + 1)
    await this.#body(m, r)
    await verify(m, r)
  }

  toString(): string {
    return this.#label
  }
}

const hasLive = (m: Model) => m.live.size > 0
const always = () => true
const show = (value: unknown) => JSON.stringify(value)

function newShape(m: Model, def: number, result: { handle: ShapeHandle; created: boolean }): void {
  assert.equal(result.created, true, `getOrCreateShape(def ${def}) of a new shape: created`)
  assert.ok(!m.issued.has(result.handle), `getOrCreateShape gave a handle given out before: ${result.handle}`)
  m.issued.add(result.handle)
  m.live.set(def, {
    handle: result.handle,
    def,
    log: [],
    openChunkBytes: 0,
    chunkEnds: [],
    pg: null,
    started: false,
    snapshot: null,
  })
}

/** getOrCreateShape, optionally twice in one tick with another spelling of the definition (one creation). */
function createCmd(def: number, alias: number, twice: boolean): Cmd {
  return new Cmd(`create(def ${def}, alias ${alias}, twice=${twice})`, always, async (m, r) => {
    const first = r.engine.getOrCreateShape(variantOf(def, alias))
    const second = twice ? r.engine.getOrCreateShape(variantOf(def, alias + 1)) : null
    const result = await first
    const existing = m.live.get(def)
    if (existing !== undefined) {
      assert.deepEqual(result, { handle: existing.handle, created: false }, 'getOrCreateShape of a live shape')
    } else {
      newShape(m, def, result)
    }
    if (second !== null) {
      assert.deepEqual(await second, { handle: result.handle, created: false }, 'concurrent getOrCreateShape')
    }
  })
}

/** removeShape; optionally re-creates the definition in the same tick (a new, empty shape with a new handle). */
/** getOrCreateShape of several definitions at once (all eight when `defs` is empty). */
function createManyCmd(defs: readonly number[]): Cmd {
  return new Cmd(`createMany(${show(defs)})`, always, async (m, r) => {
    const wanted = defs.length === 0 ? DEFS.map((_, def) => def) : defs
    const calls = wanted.map((def) => r.engine.getOrCreateShape(variantOf(def, def)))
    for (const [i, def] of wanted.entries()) {
      const result = await calls[i]!
      const existing = m.live.get(def)
      if (existing !== undefined) assert.deepEqual(result, { handle: existing.handle, created: false })
      else newShape(m, def, result)
    }
  })
}

function removeCmd(target: number, recreate: boolean): Cmd {
  return new Cmd(`remove(${target}, recreate=${recreate})`, hasLive, async (m, r) => {
    const s = pickLive(m, target)!
    const def = s.def
    const removed = r.engine.removeShape(s.handle)
    const created = recreate ? r.engine.getOrCreateShape(variantOf(def, 0)) : null
    assert.equal(await removed, true, 'removeShape of a live shape')
    m.live.delete(def)
    m.dead.push(s.handle)
    if (created !== null) newShape(m, def, await created)
    assert.equal(await r.engine.removeShape(s.handle), false, 'removeShape twice')
  })
}

function writeCmd(op: WriteOp): Cmd {
  return new Cmd(`${op.kind}(${show(op)})`, hasLive, async (m, r) => {
    await settle(issue(m, r, op, new Set()))
  })
}

/** Several writes issued in one event turn without awaiting in between (one group commit), applied in issue order. */
function burstCmd(ops: readonly WriteOp[], closeDuring: boolean): Cmd {
  return new Cmd(`burst(${show(ops)}, closeDuring=${closeDuring})`, always, async (m, r) => {
    const all: Pending[] = []
    const writing = new Set<ShapeModel>()
    for (const op of ops) all.push(...issue(m, r, op, writing))
    // close() in the same tick commits what is pending (a snapshot being written would be cut short: not then).
    if (closeDuring && !ops.some((op) => op.kind === 'snapshot')) {
      const closing = r.engine.close()
      await settle(all)
      await closing
      r.engine = await openEngine(engineOptions(r))
      return
    }
    await settle(all)
  })
}

/** Many small transactions issued at once (one group commit): logs longer than the readers' 64-record batches. */
function bulkCmd(target: number, count: number, payload: string): Cmd {
  return new Cmd(`bulk(${target}, ${count}, ${show(payload)})`, hasLive, async (m, r) => {
    const s = pickLive(m, target)!
    const all: Pending[] = []
    for (let i = 0; i < count; i++) {
      const fresh: FreshItem[] = [{ step: 1, payload, op: 'insert' }]
      if (i % 4 === 0) fresh.push({ step: 2, payload: '', op: 'delete' })
      const items = makeItems(m.lsn + 1, i % 3, fresh)
      const promise = r.engine.appendToLog(s.handle, items.map(toLogItem))
      all.push(pending(`bulk appendToLog(def ${s.def}, ${fmt(items[0]!.off)})`, promise, null))
      applyItems(m, s, items)
      bumpLsn(m, items)
    }
    await settle(all)
  })
}

function fanoutCmd(spec: FanoutSpec): Cmd {
  return new Cmd(`fanout(${show(spec)})`, always, async (m, r) => {
    const shapes = spec.allLive
      ? [...m.live.values()]
      : spec.defs.map((d) => m.live.get(d)).filter((s): s is ShapeModel => s !== undefined)
    const txn =
      spec.global && m.lsn > 0
        ? makeItems(m.lsn, spec.txn.opStart, spec.txn.items)
        : makeItems(m.lsn + spec.txn.txDelta, spec.txn.opStart, spec.txn.items)
    const entries = shapes.map((s, k) => ({
      shape: s,
      items: spec.share ? txn : txn.filter((_, i) => ((spec.masks[k % spec.masks.length]! >> i) & 1) === 1),
    }))
    let fault = spec.fault
    if (entries.length === 0 && (fault === 'badItem' || fault === 'duplicate')) fault = 'deadHandle'
    const shared = txn.map(toLogItem)
    const call: Array<{ handle: ShapeHandle; items: unknown[] }> = entries.map(({ shape, items }) => ({
      handle: shape.handle,
      items: spec.share ? shared : items.map(toLogItem),
    }))
    let code: string | null = null
    switch (fault) {
      case null:
        break
      case 'badItem': {
        const at = spec.faultPos % entries.length
        const injected = injectBad(entries[at]!.items, spec.bad)
        call[at] = { handle: entries[at]!.shape.handle, items: injected.items }
        code = injected.code
        break
      }
      case 'duplicate':
        call.push({ handle: entries[spec.faultPos % entries.length]!.shape.handle, items: [] })
        code = 'DUPLICATE_SHAPE'
        break
      case 'deadHandle': {
        const handle = m.dead.length > 0 ? m.dead[spec.faultPos % m.dead.length]! : '1-1'
        call.splice(spec.faultPos % (call.length + 1), 0, { handle, items: txn.map(toLogItem) })
        code = 'UNKNOWN_HANDLE'
        break
      }
      case 'badHandle':
        call.splice(spec.faultPos % (call.length + 1), 0, { handle: 'not-a-handle', items: txn.map(toLogItem) })
        code = 'INVALID_HANDLE'
        break
    }
    const promise = r.engine.appendToLogs(call as Array<{ handle: ShapeHandle; items: LogItem[] }>)
    if (code === null) {
      for (const { shape, items } of entries) applyItems(m, shape, items)
      bumpLsn(m, txn)
    }
    await settle([pending(`appendToLogs(${fault ?? 'valid'})`, promise, code)])
  })
}

function reopenCmd(): Cmd {
  return new Cmd('reopen', always, async (m, r) => {
    const old = r.engine
    await old.close()
    const anyShape = m.live.values().next().value as ShapeModel | undefined
    await expectCode('countShapes after close', () => old.countShapes(), 'ENGINE_CLOSED')
    if (anyShape !== undefined) {
      await expectCode('fetchLatestOffset after close', () => old.fetchLatestOffset(anyShape.handle), 'ENGINE_CLOSED')
      await expectCode('appendToLog after close', () => old.appendToLog(anyShape.handle, []), 'ENGINE_CLOSED')
    }
    r.engine = await openEngine(engineOptions(r))
  })
}

/** Every call on a removed handle fails with UNKNOWN_HANDLE (and removeShape answers false). */
function deadCmd(pick: number): Cmd {
  return new Cmd(
    `deadHandle(${pick})`,
    (m) => m.dead.length > 0,
    async (m, r) => {
      const h = m.dead[pick % m.dead.length]!
      const e = r.engine
      const U = 'UNKNOWN_HANDLE'
      await expectCode('fetchLatestOffset', () => e.fetchLatestOffset(h), U)
      await expectCode('fetchLastPersistedOffset', () => e.fetchLastPersistedOffset(h), U)
      await expectCode('fetchPgSnapshot', () => e.fetchPgSnapshot(h), U)
      await expectCode('snapshotStarted', () => e.snapshotStarted(h), U)
      await expectCode('getChunkEndLogOffset(-1)', () => e.getChunkEndLogOffset(h, '-1'), U)
      await expectCode('getChunkEndLogOffset(0_inf)', () => e.getChunkEndLogOffset(h, '0_inf'), U)
      await expectCode('getLogStream(-1)', () => e.getLogStream(h, '-1'), U)
      await expectCode('getLogStream(0_inf)', () => e.getLogStream(h, '0_inf', `${m.lsn + 1}_0`), U)
      await expectCode('waitForOffset', () => e.waitForOffset(h, '-1', { timeoutMs: 0 }), U)
      const item = { offset: `${m.lsn + 1}_0`, key: 'k', op: 'insert', json: '{}' } as const
      await expectCode('appendToLog', () => e.appendToLog(h, [item]), U)
      await expectCode('appendToLogs', () => e.appendToLogs([{ handle: h, items: [item] }]), U)
      await expectCode(
        'setPgSnapshot',
        () => e.setPgSnapshot(h, { xmin: 1, xmax: 2, xipList: [], filterTxns: true }),
        U,
      )
      await expectCode('markSnapshotStarted', () => e.markSnapshotStarted(h), U)
      await expectCode('makeNewSnapshot', () => e.makeNewSnapshot(h, ['{}']), U)
      await expectCode('hibernate', () => e.hibernate(h), U)
      assert.equal(await e.removeShape(h), false, 'removeShape of a removed handle')
      assert.equal(e.fetchShapeByHandle(h), undefined)
    },
  )
}

/** A read of a generated (since, upTo] range, and the chunk ends of those offsets. */
function probeCmd(target: number, a: number, b: number): Cmd {
  return new Cmd(`probe(${target}, ${a}, ${b})`, hasLive, async (m, r) => {
    const s = pickLive(m, target)!
    const probes = probesOf(m, s)
    const since = probes[a % probes.length]!
    const upTo = probes[b % probes.length]!
    await checkStream(r, s, since, upTo)
    await checkStream(r, s, since, undefined)
    await checkStream(r, s, upTo, since)
    // The string and LogOffset forms of an offset are the same argument.
    assert.deepEqual(
      await readStream(r.engine, s.handle, LogOffset.parse(fmt(since)), LogOffset.parse(fmt(upTo))),
      expectedStream(s, since, upTo),
      'getLogStream with LogOffset arguments',
    )
    const end = r.engine.getChunkEndLogOffset(s.handle, LogOffset.parse(fmt(since)))
    const expectedEnd = expectedChunkEnd(s, since)
    assert.equal(end?.toString() ?? null, expectedEnd === null ? null : fmt(expectedEnd))
    assert.equal(await r.engine.waitForOffset(s.handle, '-1', { timeoutMs: 0 }), true, 'waitForOffset(-1)')
    assert.equal(
      await r.engine.waitForOffset(s.handle, fmt(latestOf(s)), { timeoutMs: 0 }),
      false,
      'waitForOffset(latest) with timeout 0',
    )
    assert.deepEqual(parseOff(r.engine.fetchLatestOffset(s.handle).toString()), latestOf(s))
  })
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Mostly the first four definitions, so that creations, removals and re-creations collide. */
const defArb = fc.oneof({ weight: 3, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 7 }) })
/** Which live shape a command acts on: index (mod the number of live shapes) in definition order. */
const targetArb = fc.nat(DEFS.length - 1)
const payloadArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
)
const freshItemArb: fc.Arbitrary<FreshItem> = fc.record({
  step: fc.integer({ min: 1, max: 3 }),
  payload: payloadArb,
  op: fc.constantFrom<OpKind>('insert', 'update', 'delete'),
})
const txnArb = (minItems: number): fc.Arbitrary<TxnSpec> =>
  fc.record({
    sameTx: fc.boolean(),
    txDelta: fc.integer({ min: 1, max: 3 }),
    opStart: fc.nat(2),
    items: fc.array(freshItemArb, { minLength: minItems, maxLength: 5 }),
  })
const appendSpecArb = (minItems: number): fc.Arbitrary<AppendSpec> =>
  fc.record({
    replayBack: fc.oneof(
      { weight: 2, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) },
    ),
    mutateReplay: fc.boolean(),
    ghost: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    txn: txnArb(minItems),
  })
const badArb: fc.Arbitrary<BadSpec> = fc.record({
  kind: fc.constantFrom(...BAD_KINDS),
  pos: fc.nat(10),
  pick: fc.nat(20),
})
const xidArb = fc.oneof(fc.nat(1000), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat())
const pgArb: fc.Arbitrary<PgSpec> = fc
  .record({
    bounds: fc.tuple(xidArb, xidArb),
    xips: fc.array(xidArb, { maxLength: 4 }),
    filterTxns: fc.boolean(),
    invalid: fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'negativeXmin',
          'fractionalXmax',
          'xipNotArray',
          'badXip',
          'filterNotBoolean',
          'xminAboveXmax',
          'xipOutside' as const,
        ),
      },
    ),
  })
  // A valid snapshot is one Postgres can produce: xmin <= xip < xmax.
  .map(({ bounds: [a, b], xips, filterTxns, invalid }) => {
    const xmin = Math.min(a, b)
    const xmax = Math.max(a, b)
    const xipList = xmax === xmin ? [] : xips.map((x) => xmin + (x % (xmax - xmin)))
    return { xmin, xmax, xipList, filterTxns, invalid }
  })
const rowArb: fc.Arbitrary<RowSpec> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('small' as const), payload: payloadArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('exact' as const), under: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('big' as const), kib: fc.integer({ min: 300, max: 700 }) }) },
)
const snapshotOpArb: fc.Arbitrary<WriteOp> = fc.record({
  kind: fc.constant('snapshot' as const),
  target: targetArb,
  rows: fc.array(rowArb, { maxLength: 10 }),
  slow: fc.boolean(),
  tailFrom: fc.option(fc.nat(3), { nil: null }),
  badRowAt: fc.option(fc.nat(10), { nil: null, freq: 2 }),
})
const writeOpArb: fc.Arbitrary<WriteOp> = fc.oneof(
  { weight: 1, arbitrary: snapshotOpArb },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('append' as const), target: targetArb, spec: appendSpecArb(0) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('invalid' as const),
      target: targetArb,
      spec: appendSpecArb(1),
      bad: badArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pg' as const), target: targetArb, pg: pgArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mark' as const), target: targetArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hibernate' as const), target: targetArb }) },
)
const fanoutArb: fc.Arbitrary<FanoutSpec> = fc.record({
  defs: fc.uniqueArray(defArb, { minLength: 1, maxLength: DEFS.length }),
  masks: fc.array(fc.nat(31), { minLength: 4, maxLength: 4 }),
  global: fc.boolean(),
  allLive: fc.boolean(),
  share: fc.boolean(),
  txn: txnArb(1),
  fault: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom<FanoutFault>('badItem', 'duplicate', 'deadHandle', 'badHandle') },
  ),
  faultPos: fc.nat(10),
  bad: badArb,
})

const commandArbs: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(defArb, fc.nat(2), fc.boolean()).map(([def, alias, twice]) => createCmd(def, alias, twice)),
  fc.tuple(defArb, fc.nat(2), fc.boolean()).map(([def, alias, twice]) => createCmd(def, alias, twice)),
  fc.tuple(defArb, fc.nat(2), fc.boolean()).map(([def, alias, twice]) => createCmd(def, alias, twice)),
  fc.tuple(targetArb, fc.boolean()).map(([target, recreate]) => removeCmd(target, recreate)),
  fc.uniqueArray(fc.nat(DEFS.length - 1), { maxLength: 5 }).map(createManyCmd),
  appendSpecArb(0).chain((spec) => targetArb.map((target) => writeCmd({ kind: 'append', target, spec }))),
  appendSpecArb(1).chain((spec) => targetArb.map((target) => writeCmd({ kind: 'append', target, spec }))),
  fc
    .record({ target: targetArb, spec: appendSpecArb(1), bad: badArb })
    .map(({ target, spec, bad }) => writeCmd({ kind: 'invalid', target, spec, bad })),
  fc.record({ target: targetArb, pg: pgArb }).map(({ target, pg }) => writeCmd({ kind: 'pg', target, pg })),
  targetArb.map((target) => writeCmd({ kind: 'mark', target })),
  targetArb.map((target) => writeCmd({ kind: 'hibernate', target })),
  fanoutArb.map(fanoutCmd),
  fanoutArb.map(fanoutCmd),
  fc.tuple(targetArb, fc.integer({ min: 30, max: 120 }), payloadArb).map(([target, n, p]) => bulkCmd(target, n, p)),
  fc
    .tuple(fc.array(writeOpArb, { minLength: 2, maxLength: 6 }), fc.boolean())
    .map(([ops, closeDuring]) => burstCmd(ops, closeDuring)),
  snapshotOpArb.map(writeCmd),
  snapshotOpArb.map(writeCmd),
  fc.constant(null).map(reopenCmd),
  fc.nat(10).map(deadCmd),
  fc.tuple(targetArb, fc.nat(200), fc.nat(200)).map(([target, a, b]) => probeCmd(target, a, b)),
]

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

function envInt(name: string): number | undefined {
  const value = process.env[name]
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${value}`)
  return n
}

/** Runs the model-based property against `target`'s runtime; MODEL_RUNS overrides `defaultRuns`. */
export function modelSuite(target: ContractTarget, defaultRuns: number): void {
  test(`engine matches the in-memory model (fast-check model-based, ${target.name} runtime)`, {
    timeout: 10 * 60_000,
  }, async () => {
    const seed = envInt('MODEL_SEED') ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0
    const path = process.env.MODEL_PATH
    const replayPath = process.env.MODEL_REPLAY_PATH
    const numRuns = envInt('MODEL_RUNS') ?? defaultRuns
    const maxCommands = envInt('MODEL_MAX_COMMANDS') ?? 40
    console.log(
      `model.test: seed=${seed}${path === undefined ? '' : ` path=${path}`} numRuns=${numRuns} maxCommands=${maxCommands}` +
        ` (replay: MODEL_SEED=${seed}${path === undefined ? '' : ` MODEL_PATH=${path}`})`,
    )

    const commands = fc.commands(commandArbs, {
      maxCommands,
      size: 'max',
      ...(replayPath === undefined ? {} : { replayPath }),
    })
    // Mostly small thresholds (chunks close every few items); sometimes one just over SNAPSHOT_PART_BYTES, where
    // big snapshot rows make multi-part chunks and log chunks stay open.
    const thresholdArb = fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 40, max: 120 }) },
      { weight: 1, arbitrary: fc.constant(limits.SNAPSHOT_PART_BYTES + 4096) },
    )
    const property = fc.asyncProperty(thresholdArb, commands, async (threshold, cmds) => {
      const dir = await mkdtemp(join(tmpdir(), 'shapestore-model-'))
      const runtime = target.runtime
      const real: Real = {
        engine: await openEngine(engineOptions({ dir, threshold, runtime })),
        dir,
        threshold,
        runtime,
      }
      try {
        const model: Model = { threshold, live: new Map(), dead: [], issued: new Set(), lsn: 0 }
        await fc.asyncModelRun(() => ({ model, real }), cmds)
      } finally {
        await real.engine.close().catch(() => {})
        await rm(dir, { recursive: true, force: true })
      }
    })

    const details = await fc.check(property, {
      seed,
      numRuns,
      ...(path === undefined ? {} : { path, endOnFailure: true }),
    })
    if (details.failed) {
      const cause = details.errorInstance
      // fc.commands shrinks over the commands that ran: an exact replay also needs its replayPath hint.
      const hint = /replayPath="([^"]*)"/.exec(fc.stringify(details.counterexample))?.[1]
      const replay =
        `MODEL_SEED=${details.seed} MODEL_PATH=${details.counterexamplePath}` +
        (hint === undefined ? '' : ` MODEL_REPLAY_PATH='${hint}'`)
      console.log(
        `model.test FAILED: replay with ${replay}` +
          ` (counterexample: ${fc.stringify(details.counterexample)})\n` +
          `model.test failure: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`,
      )
      assert.fail(
        `${fc.defaultReportMessage(details) ?? 'property failed'}\n` +
          `Replay: ${replay}\n` +
          `Cause: ${cause instanceof Error ? cause.message : String(cause)}`,
      )
    }
    console.log(
      `model.test (${target.name} runtime): ${details.numRuns} runs passed (seed=${seed}); commands run: ${show(Object.fromEntries(ran))}`,
    )
  })
}
