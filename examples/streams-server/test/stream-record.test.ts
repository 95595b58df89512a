/**
 * Stream records are stored without the fields still at their defaults (storedRecord) and read
 * back whole (recordOf); records stored whole, as before, read the same.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { open } from 'lmdb'
import { startStreamsServer } from '../src/index.ts'
import { recordOf, type StreamRecord, storedRecord } from '../src/stream-record.ts'
import type { ProducerKey } from '../src/stream-store.ts'
import { readMessages, tempDir } from './helpers.ts'

const plain: StreamRecord = {
  config: { contentType: 'application/json', ttlSeconds: null, expiresAt: null, fork: null },
  handle: '112458010-1796635449375002',
  createdAtMs: 1_796_635_449_375,
  closed: false,
  closedBy: null,
  producers: {},
  streamSeq: null,
  softDeleted: false,
  forks: [],
  lastAccessMs: null,
}

const everything: StreamRecord = {
  config: {
    contentType: 'text/plain; charset=utf-8',
    ttlSeconds: 30,
    expiresAt: '2030-01-01T00:00:00Z',
    fork: { source: '/v1/stream/a', through: '3_0', subOffset: 2 },
  },
  handle: 'h-1',
  createdAtMs: 1,
  closed: true,
  closedBy: { id: 'p', epoch: 1, seq: 4 },
  producers: { p: { epoch: 1, seq: 4 }, q: { epoch: 0, seq: 0 } },
  streamSeq: 'b',
  softDeleted: true,
  forks: ['/v1/stream/b'],
  lastAccessMs: 1_796_635_500_000,
}

test('a record reads back as it was stored, whichever fields it sets', () => {
  assert.deepEqual(recordOf(storedRecord(plain)), plain)
  assert.deepEqual(recordOf(storedRecord(everything)), everything)
  // Each field set alone, the others at their defaults.
  for (const field of ['closed', 'closedBy', 'producers', 'streamSeq', 'softDeleted', 'forks'] as const) {
    const one = { ...plain, [field]: everything[field] }
    assert.deepEqual(recordOf(storedRecord(one)), one, field)
  }
  for (const field of ['ttlSeconds', 'expiresAt', 'fork'] as const) {
    const one = { ...plain, config: { ...plain.config, [field]: everything.config[field] } }
    assert.deepEqual(recordOf(storedRecord(one)), one, field)
  }
})

test('a plain stream stores its content type, handle and creation time only', () => {
  assert.deepEqual(storedRecord(plain), {
    config: { contentType: 'application/json' },
    handle: plain.handle,
    createdAtMs: plain.createdAtMs,
  })
})

test('a record stored whole, producers inside (by a server before these formats), is read as it was', async () => {
  const { dir, cleanup } = tempDir()
  try {
    let server = await startStreamsServer({ dir, writers: 0 })
    let s = `${server.url}/v1/stream/old`
    const json = { 'content-type': 'application/json' }
    assert.equal((await fetch(s, { method: 'PUT', headers: json, body: '[0]' })).status, 201)
    const producer = { 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' }
    assert.equal((await fetch(s, { method: 'POST', headers: { ...json, ...producer }, body: '[1]' })).status, 200)
    await server.close()
    // Rewrite the record whole, as the earlier format stored it, with its producers inside (as
    // before they had keys of their own).
    const env = open({ path: join(dir, 'streams'), maxDbs: 3 })
    const records = env.openDB<Record<string, unknown>, string>({ name: 'records', encoding: 'msgpack' })
    const producers = env.openDB<unknown, ProducerKey>({ name: 'producers', encoding: 'msgpack' })
    const stored = records.get('/v1/stream/old') as Parameters<typeof recordOf>[0]
    assert.equal(stored.producers, undefined, 'a producer is not stored in the record')
    const whole = { ...recordOf(stored), producers: { p: { epoch: 0, seq: 0 } } }
    await records.put('/v1/stream/old', whole as unknown as Record<string, unknown>)
    assert.equal(await producers.remove(['/v1/stream/old', 'p']), true)
    await env.close()
    server = await startStreamsServer({ dir, writers: 0 })
    s = `${server.url}/v1/stream/old`
    try {
      // The producer's state came back: its retry is a duplicate, its next append goes in.
      assert.equal((await fetch(s, { method: 'POST', headers: { ...json, ...producer }, body: '[1]' })).status, 204)
      const next = { ...producer, 'producer-seq': '1' }
      assert.equal((await fetch(s, { method: 'POST', headers: { ...json, ...next }, body: '[2]' })).status, 200)
      assert.deepEqual(await readMessages(s), [0, 1, 2])
    } finally {
      await server.close()
    }
  } finally {
    cleanup()
  }
})

test("each producer's state is a value of its own: the record does not grow with the producers", async () => {
  const { dir, cleanup } = tempDir()
  try {
    const server = await startStreamsServer({ dir, writers: 0 })
    const json = { 'content-type': 'application/json' }
    const s = `${server.url}/v1/stream/many-producers`
    try {
      assert.equal((await fetch(s, { method: 'PUT', headers: json })).status, 201)
      // Each append used to rewrite every producer the stream ever had (300 x 500 B here).
      for (let p = 0; p < 300; p++) {
        const producer = { 'producer-id': `${p}-${'x'.repeat(500)}`, 'producer-epoch': '0', 'producer-seq': '0' }
        assert.equal(
          (await fetch(s, { method: 'POST', headers: { ...json, ...producer }, body: `[${p}]` })).status,
          200,
        )
      }
    } finally {
      await server.close()
    }
    const env = open({ path: join(dir, 'streams'), maxDbs: 3 })
    try {
      const records = env.openDB<unknown, string>({ name: 'records', encoding: 'msgpack' })
      const producers = env.openDB<unknown, ProducerKey>({ name: 'producers', encoding: 'msgpack' })
      const record = records.getBinary('/v1/stream/many-producers')
      assert.ok(record !== undefined && record.length < 200, `the record is ${record?.length} bytes`)
      const keys = [...producers.getKeys()]
      assert.equal(keys.length, 300)
      assert.ok(keys.every(([path]) => path === '/v1/stream/many-producers'))
    } finally {
      await env.close()
    }
  } finally {
    cleanup()
  }
})
