/**
 * lmdb-js' msgpack encoding with every value a plain map. With no shared structure store,
 * msgpackr's default (records) writes each value's structure definition into the value itself,
 * and decoding defines that structure again for every value it reads: twice as slow (50,000
 * catalog entries: 43 against 21 ms warm, 97 against 39 ms on first use). A decoder reads values
 * written either way, so files written before need nothing.
 */
export const MSGPACK_MAP_VALUES = { encoding: 'msgpack', useRecords: false } as const
