/**
 * The spec cache (ShapeService.resolve) keeps specs by their raw request parameters, so a client
 * can fill it: here with 400 GETs of one shape of a 1,600-column table, each with another value
 * of an unused parameter. Each spec carried its own copy of the table's schema and its column
 * list (about 400 KB here): the heap grew by some 160 MB, and 10,000 would have held gigabytes.
 * Now the schema is one object per table and the cache is bounded in characters too.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { COLUMNS_MAX } from '../src/table/transaction.ts'
import { startTestServer, tempDir, writeOk } from './helpers.ts'

function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

test('GETs that differ in an unused parameter do not fill the heap with specs of a wide table', async () => {
  const { dir, cleanup } = tempDir()
  const server = await startTestServer(dir)
  try {
    const row: Record<string, unknown> = { id: 1 }
    for (let column = 1; column < COLUMNS_MAX; column++) row[`c${String(column).padStart(61, '0')}`] = column
    await writeOk(server.url, 'wide', [{ op: 'insert', row }])
    // node:http, whose header limit can be raised: the electric-schema header of 1,600 columns
    // is past fetch's 16 KiB.
    const get = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const url = `${server.url}/v1/shape?table=wide&offset=-1&params[1]=${n}`
        request(url, { maxHeaderSize: 1024 * 1024 }, (res) => {
          assert.equal(res.statusCode, 200)
          res.resume().on('end', resolve).on('error', reject)
        })
          .on('error', reject)
          .end()
      })
    await get(0)
    const before = heapAfterGc()
    for (let n = 1; n <= 400; n++) await get(n)
    const grownMiB = (heapAfterGc() - before) / 2 ** 20
    assert.ok(grownMiB < 64, `the heap grew by ${grownMiB.toFixed(1)} MiB for 400 specs of one shape`)
  } finally {
    await server.close()
    cleanup()
  }
})
