// `pnpm example:server [--port P] [--dir D] [--host H] [--long-poll-ms MS] [--writers N] [--pg URL …]`
// Starts the example shape server and prints its URL; SIGINT/SIGTERM close it cleanly.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { LONG_POLL_TIMEOUT_MS_DEFAULT, startShapeServer } from './server.ts'

const USAGE = `usage: pnpm example:server [--port P] [--dir D] [--host H] [--long-poll-ms MS] [--writers N] [--pg URL]
  --port P          port to listen on, 0 for any (default 3000)
  --dir D           data directory (default ./data/electric-server)
  --host H          address to listen on (default 127.0.0.1)
  --long-poll-ms MS how long a live request waits for a change (default ${LONG_POLL_TIMEOUT_MS_DEFAULT})
  --writers N       writer threads; 0 runs the engine inline (default 1)
  --pg URL          follow Postgres (postgres://user@host:port/db) instead of the embedded tables
  --publication P   the publication whose tables are served, created if absent (default shapestore)
  --slot S          the logical replication slot followed, created if absent (default shapestore)`

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE)
  process.exit(0)
}
const { values } = parseOrExit()

function parseOrExit() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', default: '3000' },
        dir: { type: 'string', default: './data/electric-server' },
        host: { type: 'string', default: '127.0.0.1' },
        'long-poll-ms': { type: 'string', default: String(LONG_POLL_TIMEOUT_MS_DEFAULT) },
        writers: { type: 'string', default: '1' },
        pg: { type: 'string' },
        publication: { type: 'string', default: 'shapestore' },
        slot: { type: 'string', default: 'shapestore' },
      },
    })
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

const port = integerArg('port', values.port, 0, 65_535)
const server = await startShapeServer({
  dir: resolve(process.env.INIT_CWD ?? process.cwd(), values.dir),
  port,
  host: values.host,
  longPollTimeoutMs: integerArg('long-poll-ms', values['long-poll-ms'], 1, 40_000),
  writers: integerArg('writers', values.writers, 0, 64),
  pg:
    values.pg === undefined
      ? undefined
      : { connectionString: values.pg, publication: values.publication, slot: values.slot },
})
console.log(`shapestore example Electric server listening on ${server.url}`)
// The line the bench and the restart tests wait for: the port, machine-readable.
console.log(JSON.stringify({ url: server.url, pid: process.pid }))

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
