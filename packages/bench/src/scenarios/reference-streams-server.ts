// The official Node Durable Streams server (@durable-streams/server), file-backed, as its own
// process for streams-vs-reference: `node --import tsx reference-streams-server.ts DIR`.
// Prints one JSON line { url, pid, openMs, readyMs } once it listens (openMs: from constructing
// the server to listening; readyMs: since the process started).
import { performance } from 'node:perf_hooks'
import { DurableStreamTestServer } from '@durable-streams/server'

const [dataDir, longPollMs] = process.argv.slice(2)
if (dataDir === undefined) throw new Error('usage: reference-streams-server.ts DIR [LONG_POLL_MS]')
const openStart = performance.now()
const server = new DurableStreamTestServer({ dataDir, port: 0, longPollTimeout: Number(longPollMs ?? 20_000) })
const url = await server.start()
const readyMs = performance.now()
console.log(JSON.stringify({ url, pid: process.pid, openMs: readyMs - openStart, readyMs }))
process.on('SIGTERM', () => {
  server.stop().then(() => process.exit(0))
})
