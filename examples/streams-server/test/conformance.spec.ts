// The official Durable Streams conformance suite against a running server: vitest runs this
// file (see conformance.test.ts), STREAMS_URL names the server.
import { runConformanceTests } from '@durable-streams/server-conformance-tests'

const baseUrl = process.env.STREAMS_URL
if (baseUrl === undefined) throw new Error('STREAMS_URL is not set')
runConformanceTests({ baseUrl, longPollTimeoutMs: 2_000 })
