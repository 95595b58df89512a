// `pnpm example:streams [--port P] [--dir D] [--host H] [--long-poll-ms MS] [--idle-ms MS] [--writers N] [--partitions N]`
// Starts the Durable Streams server and prints its URL; SIGINT/SIGTERM close it cleanly.
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import {
  IDLE_STREAM_MS_DEFAULT,
  LONG_POLL_TIMEOUT_MS_DEFAULT,
  PARTITIONS_DEFAULT,
  startStreamsServer,
  WRITERS_DEFAULT,
} from './server.ts'

const USAGE = `usage: pnpm example:streams [--port P] [--dir D] [--host H] [--long-poll-ms MS] [--idle-ms MS] [--writers N] [--partitions N]
  --port P          port to listen on, 0 for any (default 4437)
  --dir D           data directory (default ./data/streams-server)
  --host H          address to listen on (default 127.0.0.1)
  --long-poll-ms MS how long a long-poll read waits for data (default ${LONG_POLL_TIMEOUT_MS_DEFAULT})
  --idle-ms MS      how long an unused stream stays in memory (default ${IDLE_STREAM_MS_DEFAULT})
  --writers N       writer threads; 0 runs the engine inline (default ${WRITERS_DEFAULT})
  --partitions N    engine partitions of a new data directory (default ${PARTITIONS_DEFAULT}); an existing one keeps its own`

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE)
  process.exit(0)
}
const { values } = parseOrExit()

function parseOrExit() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: '4437' },
        dir: { type: 'string', default: './data/streams-server' },
        host: { type: 'string', default: '127.0.0.1' },
        'long-poll-ms': { type: 'string', default: String(LONG_POLL_TIMEOUT_MS_DEFAULT) },
        'idle-ms': { type: 'string', default: String(IDLE_STREAM_MS_DEFAULT) },
        writers: { type: 'string', default: String(WRITERS_DEFAULT) },
        partitions: { type: 'string' },
      },
    })
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

const openStart = performance.now()
const server = await startStreamsServer({
  dir: resolve(process.env.INIT_CWD ?? process.cwd(), values.dir),
  port: integerArg('port', values.port, 0, 65_535),
  host: values.host,
  longPollTimeoutMs: integerArg('long-poll-ms', values['long-poll-ms'], 1, 600_000),
  idleStreamMs: integerArg('idle-ms', values['idle-ms'], 1, 86_400_000),
  writers: integerArg('writers', values.writers, 0, 64),
  partitions: values.partitions === undefined ? undefined : integerArg('partitions', values.partitions, 1, 256),
})
console.log(`shapestore Durable Streams server listening on ${server.url}`)
// The line the bench and the tests wait for: the URL, machine-readable, the time the open took
// (engine, records, listening) and the time from the process's start to listening.
const readyMs = performance.now()
console.log(JSON.stringify({ url: server.url, pid: process.pid, openMs: readyMs - openStart, readyMs }))

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  })
}

function integerArg(name: string, text: string, min: number, max: number): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(text)}\n\n${USAGE}`)
    process.exit(2)
  }
  return value
}
