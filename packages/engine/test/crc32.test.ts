// Proves the seals' CRC-32 is the same checksum whichever implementation computes it (the
// native one, or zlib's where no binary exists), so a store sealed on one machine reads on
// another: random values of every length class, with a key's checksum as the starting value.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { crc32 } from '../src/log-store/crc32.ts'

test('the seal checksum equals zlib CRC-32 on random keys and values', () => {
  assert.notEqual(crc32, zlibCrc32, 'the native implementation loaded on this platform')
  for (let i = 0; i < 500; i++) {
    const key = randomBytes(1 + (i % 24))
    // At least a byte: a sealed value always holds its header after the seal (and zlib answers
    // 0 for a buffer with no memory behind it, whatever the starting value).
    const value = randomBytes(1 + ((i * 97) % 70_000))
    const shared = new Uint8Array(new SharedArrayBuffer(value.length))
    shared.set(value)
    const expected = zlibCrc32(value, zlibCrc32(key))
    assert.equal(crc32(value, crc32(key)), expected)
    assert.equal(crc32(shared.subarray(0, value.length), crc32(key)), expected, 'memory shared with threads')
  }
})
