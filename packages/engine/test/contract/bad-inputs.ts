// The malformed inputs the bad-input suite tries, one table per kind of argument. Each entry is
// [what it is, the value]. Values are typed `unknown`: they are what a careless or hostile
// caller (or a client over HTTP) can hand the engine, not what the types allow.
import { type ErrorCode, LogOffset, limits } from '../../src/index.ts'

export type Named = readonly [name: string, value: unknown]

const MIB = 1024 * 1024

/** Not of the engine's handle form `<hash>-<microseconds>`: INVALID_HANDLE everywhere. */
export const BAD_HANDLES: readonly Named[] = [
  ['empty', ''],
  ['too long (41 chars)', `1-${'1'.repeat(39)}`],
  ['hash of 11 digits', '12345678901-1'],
  ['1 MiB', '1'.repeat(MIB)],
  ['../', '../1-1'],
  ['../../etc/passwd', '../../etc/passwd'],
  ['slash', '1/2-3'],
  ['backslash', '1\\2-3'],
  ['NUL', '1-2\u0000'],
  ['trailing newline', '1-2\n'],
  ['leading space', ' 1-2'],
  ['non-ASCII digits', '١-٢'],
  ['non-ASCII letters', 'é-1'],
  ['fullwidth digits', '１-２'],
  ['lone surrogate', '1-2\uD800'],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['number', 12],
  ['null', null],
  ['undefined', undefined],
  ['object', {}],
  ['array', ['1-2']],
  ['String object', new String('1-2')],
]

/** Not a LogOffset in any of Electric's forms (or a part above 2^53 - 1): INVALID_OFFSET. */
export const BAD_OFFSETS: readonly Named[] = [
  ['empty', ''],
  ['garbage', 'abc'],
  ['now', 'now'],
  ['_inf', '_inf'],
  ['inf_0', 'inf_0'],
  ['Infinity_0', 'Infinity_0'],
  ['-2', '-2'],
  ['-1_0', '-1_0'],
  ['-1_inf', '-1_inf'],
  ['negative op', '1_-1'],
  ['negative tx', '-5_1'],
  ['no op', '1_'],
  ['no tx', '_1'],
  ['no separator', '10'],
  ['three parts', '1_2_3'],
  ['fraction', '1.5_0'],
  ['hex', '0x1_0'],
  ['exponent', '1e3_0'],
  ['leading space', ' 1_0'],
  ['trailing newline', '1_0\n'],
  ['NUL', '1_0\u0000'],
  ['fullwidth digits', '１_０'],
  ['tx beyond 64 bits', '18446744073709551616_0'],
  ['op beyond 64 bits', '1_18446744073709551616'],
  ['tx 2^53 (beyond 2^53 - 1)', '9007199254740992_0'],
  ['op 2^53 (beyond 2^53 - 1)', '1_9007199254740992'],
  ['21 digits', '123456789012345678901_0'],
  ['1 MiB of digits', `${'1'.repeat(MIB)}_0`],
  ['number', 5],
  ['null', null],
  ['object with tx/op', { tx: 1, op: 0 }],
  ['array', ['1', '0']],
  ['String object', new String('1_0')],
]

/** Valid offsets in a form a log item may not have (not a real `tx_op`, tx > 0, finite op): INVALID_ITEM. */
export const NOT_REAL_OFFSETS: readonly Named[] = [
  ['-1', '-1'],
  ['0_0', '0_0'],
  ['0_3', '0_3'],
  ['0_inf', '0_inf'],
  ['tx_inf', '12_inf'],
  ['LogOffset -1', LogOffset.BEFORE_ALL],
  ['LogOffset 0_inf', LogOffset.LAST_BEFORE_REAL],
]

/** A log item built around a fresh transaction `tx` (so a wrongly accepted one would write). */
export interface ItemCase {
  readonly name: string
  readonly items: (tx: number) => unknown
  readonly code: ErrorCode
}

const item = (tx: number, op = 0) => ({
  offset: `${tx}_${op}`,
  key: `k${tx}.${op}`,
  op: 'insert',
  json: `{"tx":${tx}}`,
})
const withField = (field: string, value: unknown) => (tx: number) => [item(tx, 0), { ...item(tx, 1), [field]: value }]
const without = (field: string) => (tx: number) => {
  const { [field as 'key']: _dropped, ...rest } = item(tx, 1)
  return [item(tx, 0), rest]
}
// One shared string per size: the tables reference these rather than allocate per case.
const JSON_OVER_LIMIT = 'x'.repeat(limits.ITEM_JSON_BYTES_MAX + 1)
const JSON_14_MIB = 'x'.repeat(14 * MIB)

export const BAD_ITEMS: readonly ItemCase[] = [
  // the items argument
  { name: 'items null', items: () => null, code: 'INVALID_ITEM' },
  { name: 'items undefined', items: () => undefined, code: 'INVALID_ITEM' },
  { name: 'items a string', items: () => 'items', code: 'INVALID_ITEM' },
  { name: 'items an object', items: (tx) => ({ 0: item(tx) }), code: 'INVALID_ITEM' },
  { name: 'items a Set', items: (tx) => new Set([item(tx)]), code: 'INVALID_ITEM' },
  { name: 'items a number', items: () => 3, code: 'INVALID_ITEM' },
  // an item
  { name: 'item null', items: (tx) => [item(tx), null], code: 'INVALID_ITEM' },
  { name: 'item a number', items: (tx) => [item(tx), 7], code: 'INVALID_ITEM' },
  { name: 'item a string', items: (tx) => [item(tx), `${tx}_1`], code: 'INVALID_ITEM' },
  {
    name: 'item a hole (sparse array)',
    items: (tx) => Object.assign(new Array(3), { 0: item(tx), 2: item(tx, 2) }),
    code: 'INVALID_ITEM',
  },
  // missing fields
  { name: 'offset missing', items: without('offset'), code: 'INVALID_OFFSET' },
  { name: 'key missing', items: without('key'), code: 'INVALID_ITEM' },
  { name: 'op missing', items: without('op'), code: 'INVALID_ITEM' },
  { name: 'json missing', items: without('json'), code: 'INVALID_ITEM' },
  // wrong types
  { name: 'key a number', items: withField('key', 5), code: 'INVALID_ITEM' },
  { name: 'key null', items: withField('key', null), code: 'INVALID_ITEM' },
  { name: 'key a String object', items: withField('key', new String('k')), code: 'INVALID_ITEM' },
  { name: 'json a number', items: withField('json', 42), code: 'INVALID_ITEM' },
  { name: 'json an object', items: withField('json', { tx: 1 }), code: 'INVALID_ITEM' },
  { name: 'json a Buffer', items: withField('json', Buffer.from('{}')), code: 'INVALID_ITEM' },
  { name: 'json null', items: withField('json', null), code: 'INVALID_ITEM' },
  { name: 'op upsert', items: withField('op', 'upsert'), code: 'INVALID_ITEM' },
  { name: 'op INSERT', items: withField('op', 'INSERT'), code: 'INVALID_ITEM' },
  { name: 'op __proto__', items: withField('op', '__proto__'), code: 'INVALID_ITEM' },
  { name: 'op toString', items: withField('op', 'toString'), code: 'INVALID_ITEM' },
  { name: 'op a number', items: withField('op', 1), code: 'INVALID_ITEM' },
  { name: "op ['insert'] (coerces to a known key)", items: withField('op', ['insert']), code: 'INVALID_ITEM' },
  // text that UTF-8 cannot carry
  { name: 'key with a lone surrogate', items: withField('key', 'k\uD800'), code: 'INVALID_ITEM' },
  { name: 'json with a lone surrogate', items: withField('json', '"\uDFFF"'), code: 'INVALID_ITEM' },
  // order within the transaction
  { name: 'duplicate offsets', items: (tx) => [item(tx, 0), item(tx, 1), item(tx, 1)], code: 'OFFSET_OUT_OF_ORDER' },
  { name: 'decreasing op', items: (tx) => [item(tx, 2), item(tx, 1)], code: 'OFFSET_OUT_OF_ORDER' },
  { name: 'decreasing tx', items: (tx) => [item(tx + 1, 0), item(tx, 9)], code: 'OFFSET_OUT_OF_ORDER' },
  {
    name: 'duplicate LogOffset objects',
    items: (tx) => [
      { ...item(tx), offset: LogOffset.of(tx, 3) },
      { ...item(tx), offset: LogOffset.of(tx, 3) },
    ],
    code: 'OFFSET_OUT_OF_ORDER',
  },
  {
    name: 'out of order after 1,000 good items',
    items: (tx) => [...Array.from({ length: 1000 }, (_, i) => item(tx, i + 1)), item(tx, 0)],
    code: 'OFFSET_OUT_OF_ORDER',
  },
  // sizes (limits.ts)
  {
    name: 'key one byte over ITEM_KEY_BYTES_MAX',
    items: withField('key', 'k'.repeat(limits.ITEM_KEY_BYTES_MAX + 1)),
    code: 'TOO_LARGE',
  },
  {
    name: 'key under the limit in characters, over it in UTF-8 bytes',
    items: withField('key', '€'.repeat(Math.floor(limits.ITEM_KEY_BYTES_MAX / 3) + 1)),
    code: 'TOO_LARGE',
  },
  { name: 'json one byte over ITEM_JSON_BYTES_MAX', items: withField('json', JSON_OVER_LIMIT), code: 'TOO_LARGE' },
  {
    name: 'TRANSACTION_ITEMS_MAX + 1 items',
    items: (tx) => Array.from({ length: limits.TRANSACTION_ITEMS_MAX + 1 }, (_, i) => item(tx, i)),
    code: 'TOO_LARGE',
  },
  {
    name: 'transaction over TRANSACTION_BYTES_MAX (5 items of 14 MiB)',
    items: (tx) => Array.from({ length: 5 }, (_, i) => ({ ...item(tx, i), json: JSON_14_MIB })),
    code: 'TOO_LARGE',
  },
]

/** Malformed shape definitions: INVALID_SHAPE from getOrCreateShape and fetchHandleByShape. */
export const BAD_SHAPES: readonly Named[] = [
  ['null', null],
  ['undefined', undefined],
  ['a string', 'items'],
  ['a number', 5],
  ['an array', ['items']],
  ['a Map', new Map([['table', 'items']])],
  ['a Date', new Date(0)],
  [
    'a class instance',
    new (class Def {
      table = 'items'
    })(),
  ],
  ['inherited table (Object.create)', Object.create({ table: 'items' })],
  ['own __proto__ key (JSON.parse)', JSON.parse('{"table":"items","__proto__":{"where":"x"}}')],
  ['__proto__ in a literal (polluted prototype)', { __proto__: { where: 'x' }, table: 'items' }],
  ['constructor key', { table: 'items', constructor: 'x' }],
  ['prototype key', { table: 'items', prototype: {} }],
  ['unknown field', { table: 'items', filter: 'x' }],
  ['table missing', {}],
  ['table empty', { table: '' }],
  ['table a number', { table: 5 }],
  ['table null', { table: null }],
  ['table three parts', { table: 'a.b.c' }],
  ['table ../', { table: '../items' }],
  ['table with a slash', { table: 'a/b' }],
  ['table with NUL', { table: 'a\u0000b' }],
  ['quoted table with NUL', { table: '"a\u0000b"' }],
  ['table unterminated quote', { table: '"items' }],
  ['table SQL injection', { table: 'items; drop table x' }],
  ['table one byte over TABLE_NAME_BYTES_MAX', { table: 'a'.repeat(limits.TABLE_NAME_BYTES_MAX + 1) }],
  ['table over the limit in UTF-8 bytes only', { table: `"${'é'.repeat(64)}"` }],
  ['where a number', { table: 'items', where: 5 }],
  ['where an object', { table: 'items', where: {} }],
  ['where with NUL', { table: 'items', where: 'a = 1\u0000' }],
  ['where one byte over WHERE_BYTES_MAX', { table: 'items', where: 'x'.repeat(limits.WHERE_BYTES_MAX + 1) }],
  ['where over the limit in UTF-8 bytes only', { table: 'items', where: 'é'.repeat(limits.WHERE_BYTES_MAX / 2 + 1) }],
  ['where of 1 MiB', { table: 'items', where: `id = ${'1'.repeat(MIB)}` }],
  ['columns a string', { table: 'items', columns: 'a' }],
  ['columns empty', { table: 'items', columns: [] }],
  ['columns sparse', { table: 'items', columns: new Array(2) }],
  ['a column empty', { table: 'items', columns: [''] }],
  ['a column a number', { table: 'items', columns: [5] }],
  ['a column with NUL', { table: 'items', columns: ['a\u0000'] }],
  ['a column one byte over COLUMN_NAME_BYTES_MAX', { table: 'items', columns: ['c'.repeat(64)] }],
  ['a column selected twice', { table: 'items', columns: ['a', 'a'] }],
  [
    'COLUMNS_MAX + 1 columns',
    { table: 'items', columns: Array.from({ length: limits.COLUMNS_MAX + 1 }, (_, i) => `c${i}`) },
  ],
  ['replica partial', { table: 'items', replica: 'partial' }],
  ['replica a number', { table: 'items', replica: 1 }],
]

/** Malformed table filters for listShapes: INVALID_SHAPE (the table) or INVALID_OPTION (the filter). */
export const BAD_LIST_FILTERS: ReadonlyArray<readonly [string, unknown, ErrorCode]> = [
  ['filter null', null, 'INVALID_OPTION'],
  ['filter a string', 'items', 'INVALID_OPTION'],
  ['filter a number', 5, 'INVALID_OPTION'],
  ['filter with an unknown field', { tabel: 'items' }, 'INVALID_OPTION'],
  ['table empty', { table: '' }, 'INVALID_SHAPE'],
  ['table a number', { table: 5 }, 'INVALID_SHAPE'],
  ['table ../', { table: '../x' }, 'INVALID_SHAPE'],
  ['table with NUL', { table: 'a\u0000' }, 'INVALID_SHAPE'],
  ['table too long', { table: 'a'.repeat(limits.TABLE_NAME_BYTES_MAX + 1) }, 'INVALID_SHAPE'],
]

/** Malformed pg snapshots: INVALID_ITEM. */
export const BAD_PG_SNAPSHOTS: readonly Named[] = [
  ['null', null],
  ['a string', '100:105:101'],
  ['a number', 100],
  ['an array', [100, 105]],
  ['empty object', {}],
  ['xmax missing', { xmin: 100, xipList: [] }],
  ['xmin negative', { xmin: -1, xmax: 5, xipList: [] }],
  ['xmin fractional', { xmin: 1.5, xmax: 5, xipList: [] }],
  ['xmin a hex string', { xmin: '0x64', xmax: 105, xipList: [] }],
  ['xmin a string with a space', { xmin: ' 100', xmax: 105, xipList: [] }],
  ['xmin a negative string', { xmin: '-1', xmax: 105, xipList: [] }],
  ['xmin in exponent form', { xmin: '1e2', xmax: 105, xipList: [] }],
  ['xmin an empty string', { xmin: '', xmax: 105, xipList: [] }],
  ['xmin a negative BigInt', { xmin: -1n, xmax: 105, xipList: [] }],
  ['xmin a boolean', { xmin: true, xmax: 105, xipList: [] }],
  ['xmin NaN', { xmin: Number.NaN, xmax: 105, xipList: [] }],
  ['xmax Infinity', { xmin: 1, xmax: Number.POSITIVE_INFINITY, xipList: [] }],
  ['xmax 2^53', { xmin: 1, xmax: 2 ** 53, xipList: [] }],
  ['xmax 2^53 as a string', { xmin: 1, xmax: String(2 ** 53), xipList: [] }],
  ['xmax 2^64 - 1 as a BigInt', { xmin: 1, xmax: 2n ** 64n - 1n, xipList: [] }],
  ['xmin > xmax as strings', { xmin: '105', xmax: '100', xipList: [] }],
  ['xmin > xmax', { xmin: 105, xmax: 100, xipList: [] }],
  ['xip below xmin', { xmin: 100, xmax: 105, xipList: [99] }],
  ['xip at xmax', { xmin: 100, xmax: 105, xipList: [105] }],
  ['xipList a string', { xmin: 100, xmax: 105, xipList: '101' }],
  ['xipList an object', { xmin: 100, xmax: 105, xipList: { 0: 101 } }],
  ['xip fractional', { xmin: 100, xmax: 105, xipList: [101.5] }],
  ['xip negative', { xmin: 100, xmax: 105, xipList: [-1] }],
  ['xip a decimal fraction', { xmin: 100, xmax: 105, xipList: ['101.5'] }],
  ['xip at xmax as a BigInt', { xmin: 100, xmax: 105, xipList: [105n] }],
  [
    'XIP_LIST_MAX + 1 xips',
    {
      xmin: 1,
      xmax: limits.XIP_LIST_MAX + 10,
      xipList: Array.from({ length: limits.XIP_LIST_MAX + 1 }, (_, i) => i + 1),
    },
  ],
  ['filterTxns a string', { xmin: 100, xmax: 105, xipList: [], filterTxns: 'yes' }],
  ['filterTxns a number', { xmin: 100, xmax: 105, xipList: [], filterTxns: 1 }],
]

/** Malformed waitForOffset options: INVALID_OPTION. */
export const BAD_WAIT_OPTIONS: readonly Named[] = [
  ['null', null],
  ['a number', 100],
  ['a string', 'fast'],
  ['unknown field', { timeout: 10 }],
  ['timeoutMs negative', { timeoutMs: -1 }],
  ['timeoutMs NaN', { timeoutMs: Number.NaN }],
  ['timeoutMs fractional', { timeoutMs: 1.5 }],
  ['timeoutMs a string', { timeoutMs: '10' }],
  ['timeoutMs Infinity', { timeoutMs: Number.POSITIVE_INFINITY }],
  ['timeoutMs over WAIT_TIMEOUT_MS_MAX', { timeoutMs: limits.WAIT_TIMEOUT_MS_MAX + 1 }],
  ['signal an object', { timeoutMs: 10, signal: {} }],
  ['signal a string', { timeoutMs: 10, signal: 'abort' }],
  ['signal an AbortController', { timeoutMs: 10, signal: new AbortController() }],
]

/** Not a source of rows for makeNewSnapshot: INVALID_ITEM before the attempt starts. */
export const BAD_ROW_SOURCES: readonly Named[] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 3],
  ['a string (iterates characters)', '{"a":1}'],
  ['a plain object', { 0: '{}' }],
  ['a function', () => ['{}']],
]

/** Bad rows inside a row source: the attempt fails part-way and stays incomplete until retried. */
export const BAD_ROWS: ReadonlyArray<readonly [string, () => Iterable<unknown> | AsyncIterable<unknown>, ErrorCode]> = [
  ['first row a number', () => [5], 'INVALID_ITEM'],
  ['a later row null', () => ['{"a":1}', '{"a":2}', null], 'INVALID_ITEM'],
  ['a row an object', () => [{ a: 1 }], 'INVALID_ITEM'],
  ['a row a Buffer', () => [Buffer.from('{}')], 'INVALID_ITEM'],
  ['a row with a lone surrogate', () => ['{"a":1}', '"\uD800"'], 'INVALID_ITEM'],
  ['a row one byte over SNAPSHOT_ROW_BYTES_MAX', () => ['{"a":1}', JSON_OVER_LIMIT], 'TOO_LARGE'],
  [
    'an async source with a bad row after a full part',
    async function* () {
      yield JSON.stringify({ pad: 'p'.repeat(limits.SNAPSHOT_PART_BYTES) })
      yield 17
    },
    'INVALID_ITEM',
  ],
]

/** Malformed openEngine options (besides `dir`, which the suite sets per case): INVALID_OPTION. */
export const BAD_ENGINE_OPTIONS: readonly Named[] = [
  ['partitions 0', { partitions: 0 }],
  ['partitions negative', { partitions: -1 }],
  ['partitions fractional', { partitions: 1.5 }],
  ['partitions NaN', { partitions: Number.NaN }],
  ['partitions Infinity', { partitions: Number.POSITIVE_INFINITY }],
  ['partitions a string', { partitions: '8' }],
  ['partitions null', { partitions: null }],
  ['partitions over PARTITIONS_MAX', { partitions: limits.PARTITIONS_MAX + 1 }],
  ['chunkBytesThreshold 0', { chunkBytesThreshold: 0 }],
  ['chunkBytesThreshold negative', { chunkBytesThreshold: -1 }],
  ['chunkBytesThreshold NaN', { chunkBytesThreshold: Number.NaN }],
  ['chunkBytesThreshold over the max', { chunkBytesThreshold: limits.CHUNK_BYTES_THRESHOLD_MAX + 1 }],
  ['chunkBytesThreshold a string', { chunkBytesThreshold: '1024' }],
  ['partitionMapBytes 0', { partitionMapBytes: 0 }],
  ['partitionMapBytes 1', { partitionMapBytes: 1 }],
  ['partitionMapBytes negative', { partitionMapBytes: -1 }],
  ['partitionMapBytes 2^60', { partitionMapBytes: 2 ** 60 }],
  ['partitionMapBytes fractional', { partitionMapBytes: 1.5 * MIB + 0.5 }],
  ['catalogMapBytes 0', { catalogMapBytes: 0 }],
  ['catalogMapBytes 2^60', { catalogMapBytes: 2 ** 60 }],
  ['catalogMapBytes NaN', { catalogMapBytes: Number.NaN }],
  ['snapshotStallTimeoutMs 0', { snapshotStallTimeoutMs: 0 }],
  ['snapshotStallTimeoutMs negative', { snapshotStallTimeoutMs: -5 }],
  ['snapshotStallTimeoutMs 10^12', { snapshotStallTimeoutMs: 1e12 }],
  ['runtime a string', { runtime: 'inline' }],
  ['runtime an object', { runtime: {} }],
  ['an unknown (misspelt) option', { partition: 4 }],
]

/** Malformed `dir` values: INVALID_OPTION. */
export const BAD_DIRS: readonly Named[] = [
  ['missing', undefined],
  ['empty', ''],
  ['a number', 5],
  ['null', null],
  ['an object', {}],
  ['with NUL', 'data\u0000dir'],
]
