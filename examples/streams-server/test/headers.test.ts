/**
 * Content-Length only where HTTP allows it (RFC 9110 §8.6, §15.3.5): not on a 204 or a 304, and
 * not on the answer to a HEAD (it said 0 where the GET's body had bytes).
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { startStreamsServer } from '../src/index.ts'
import { tempDir } from './helpers.ts'

/** The raw response headers of one request (fetch adds and drops some). */
function rawHeaders(url: string, method: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

test('no Content-Length on a 204, a 304 or a HEAD; the GET has its length', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startStreamsServer({ dir, writers: 0, longPollTimeoutMs: 200 })
  try {
    const s = `${server.url}/v1/stream/h`
    const json = { 'content-type': 'application/json' }
    assert.equal((await rawHeaders(s, 'PUT', json, '[1]')).status, 201)
    const get = await rawHeaders(`${s}?offset=-1`, 'GET')
    assert.equal(get.headers['content-length'], '3')
    const head = await rawHeaders(s, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], undefined)
    const appended = await rawHeaders(s, 'POST', json, '[2]')
    assert.equal(appended.status, 204)
    assert.equal(appended.headers['content-length'], undefined)
    const cached = await rawHeaders(`${s}?offset=-1`, 'GET', { 'if-none-match': String(get.headers.etag) })
    assert.equal(cached.status, 200, 'the stream grew: the old etag no longer matches')
    const again = await rawHeaders(`${s}?offset=-1`, 'GET', { 'if-none-match': String(cached.headers.etag) })
    assert.equal(again.status, 304)
    assert.equal(again.headers['content-length'], undefined)
  } finally {
    await server.close()
    cleanup()
  }
})
