import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { openEngine } from '@shapestore/engine'
import { PARTITIONS_DEFAULT } from '../src/server.ts'

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'streams-server-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The stream shapes the engine in the closed server directory `dir` holds. */
export async function storedShapes(dir: string): Promise<number> {
  const engine = await openEngine({ dir: join(dir, 'engine'), partitions: PARTITIONS_DEFAULT })
  try {
    return [...engine.listShapes({ table: 'streams' })].length
  } finally {
    await engine.close()
  }
}

/** Reads a stream from the start to its tail (following Stream-Next-Offset): the whole body of every response. */
export async function readAll(streamUrl: string): Promise<{ bodies: Buffer[]; nextOffset: string }> {
  const bodies: Buffer[] = []
  let offset = '-1'
  for (;;) {
    const res = await fetch(`${streamUrl}?offset=${encodeURIComponent(offset)}`)
    if (res.status !== 200) throw new Error(`GET ${streamUrl}: ${res.status} ${await res.text()}`)
    bodies.push(Buffer.from(await res.arrayBuffer()))
    offset = res.headers.get('stream-next-offset') as string
    if (res.headers.get('stream-up-to-date') === 'true') return { bodies, nextOffset: offset }
  }
}

/** The JSON messages of a JSON stream, start to tail. */
export async function readMessages(streamUrl: string): Promise<unknown[]> {
  const { bodies } = await readAll(streamUrl)
  return bodies.flatMap((body) => JSON.parse(body.toString('utf8')) as unknown[])
}

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))

/** `pnpm example:streams` as a child process; resolves once it listens. */
export async function startServerProcess(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--dir', dir, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url)
    })
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)))
  })
  return { url, child }
}
