import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'

/**
 * The client side of streams-vs-reference: a kept-alive `node:http` client (the `fetch` client
 * tops out near 3,000 requests/s on this machine, under either server), the same for both servers.
 */
export interface HttpResponse {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: Buffer
}

export function httpRequest(
  agent: Agent,
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

export function keptAliveAgent(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets })
}

/** A 200-byte JSON message, its counter inside. */
export function messageBody(counter: number): string {
  const head = `{"n":${counter},"pad":"`
  return `${head}${'x'.repeat(200 - head.length - 2)}"}`
}

function expectOk(response: HttpResponse, what: string): void {
  if (response.status < 200 || response.status > 299) {
    throw new Error(`${what}: ${response.status} ${response.body.toString('utf8').slice(0, 200)}`)
  }
}

/**
 * Creates `paths` as empty JSON streams, `concurrency` at a time. Empty: the reference server
 * answers 404 to about 1 in 10 concurrent creations with a body once over 100 streams were
 * written (its pool of 100 file handles evicts one between the write and its fdatasync).
 */
export async function createStreams(url: string, paths: readonly string[], concurrency: number): Promise<void> {
  const agent = keptAliveAgent(concurrency)
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++] as string
      const response = await httpRequest(agent, `${url}${path}`, 'PUT', JSON_TYPE)
      expectOk(response, `PUT ${path}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  agent.destroy()
}

/**
 * `producers` closed loops, each POSTing one 200-byte message to a random path of `paths` and
 * waiting for its answer, for `durationMs`: acknowledged (2xx) appends per second, and the
 * appends refused (the reference server refuses some under load: see createStreams).
 */
export async function appendLoad(
  url: string,
  paths: readonly string[],
  producers: number,
  durationMs: number,
  random: () => number,
): Promise<{ perSecond: number; refused: number }> {
  const agent = keptAliveAgent(producers)
  let acknowledged = 0
  let refused = 0
  let counter = 0
  const start = performance.now()
  const producer = async () => {
    while (performance.now() - start < durationMs) {
      const path = paths[Math.floor(random() * paths.length)] as string
      const response = await httpRequest(agent, `${url}${path}`, 'POST', JSON_TYPE, messageBody(++counter))
      if (response.status >= 200 && response.status <= 299) acknowledged++
      else refused++
    }
  }
  await Promise.all(Array.from({ length: producers }, producer))
  const seconds = (performance.now() - start) / 1000
  agent.destroy()
  return { perSecond: acknowledged / seconds, refused }
}

/**
 * Live fan-out: `subscribers` long-polls on one stream; per round, one POST, and per subscriber
 * the time from just before the POST to its long-poll answering with the message. Rounds start
 * once every subscriber has had its long-poll out for `settleMs`. Returns every latency, ms.
 */
export async function liveFanout(
  url: string,
  path: string,
  subscribers: number,
  rounds: number,
  settleMs: number,
): Promise<number[]> {
  const agent = keptAliveAgent(subscribers + 1)
  const head = await httpRequest(agent, `${url}${path}`, 'HEAD')
  let offset = head.headers['stream-next-offset'] as string
  const latencies: number[] = []
  for (let round = 0; round < rounds; round++) {
    const polls = Array.from({ length: subscribers }, () => pollUntilData(agent, `${url}${path}`, offset))
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    const postedAt = performance.now()
    const posted = await httpRequest(agent, `${url}${path}`, 'POST', JSON_TYPE, messageBody(round))
    expectOk(posted, `POST ${path}`)
    const answers = await Promise.all(polls)
    for (const answer of answers) latencies.push(answer.at - postedAt)
    offset = answers[0]?.offset ?? offset
  }
  agent.destroy()
  return latencies
}

/** Long-polls from `offset` until an answer carries data (a 204 timeout polls again). */
async function pollUntilData(agent: Agent, streamUrl: string, offset: string): Promise<{ at: number; offset: string }> {
  for (;;) {
    const response = await httpRequest(agent, `${streamUrl}?offset=${encodeURIComponent(offset)}&live=long-poll`, 'GET')
    if (response.status === 200 && response.body.length > 2) {
      return { at: performance.now(), offset: response.headers['stream-next-offset'] as string }
    }
    if (response.status !== 204 && response.status !== 200) throw new Error(`long-poll: ${response.status}`)
  }
}

const JSON_TYPE = { 'content-type': 'application/json' }
