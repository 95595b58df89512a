// The example server compiled, as a deployment runs it (and as `pnpm bench pg-e2e` times its
// restart): `pnpm build`, then plain node on dist/ with the condition `shapestore-dist`, which
// resolves the engine and the workers to their compiled dist/ too, in the writer threads as
// well. Plain Node 20 cannot load a .ts file, so a source module reached anywhere fails this.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')

function build(project: string): void {
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, project, 'tsconfig.build.json')], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(result.status, 0, `${project}: ${result.stdout}${result.stderr}`)
}

test('the compiled server (dist/, condition shapestore-dist) creates a shape and fans a write out through its writer thread', async () => {
  for (const project of ['packages/engine', 'packages/workers', 'examples/electric-server']) build(project)
  const dir = mkdtempSync(join(tmpdir(), 'shapestore-compiled-'))
  const child = spawn(
    process.execPath,
    [
      '--conditions=shapestore-dist',
      join(root, 'examples/electric-server/dist/main.js'),
      ...['--port', '0', '--dir', dir, '--writers', '1'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.startsWith('{')) resolve((JSON.parse(line) as { url: string }).url)
      })
      child.once('exit', (code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)))
    })
    const write = (id: number) =>
      fetch(`${url}/v1/tables/todos/transactions`, {
        method: 'POST',
        body: JSON.stringify({ ops: [{ op: 'insert', row: { id, title: `t${id}` } }] }),
      })
    assert.equal((await write(1)).status, 200)
    const first = await fetch(`${url}/v1/shape?table=todos&offset=-1`)
    const handle = first.headers.get('electric-handle') as string
    const offset = first.headers.get('electric-offset') as string
    assert.deepEqual(
      ((await first.json()) as { value: unknown }[]).map(({ value }) => value),
      [{ id: '1', title: 't1' }],
    )
    assert.equal((await write(2)).status, 200)
    const next = await fetch(`${url}/v1/shape?table=todos&handle=${handle}&offset=${offset}`)
    const messages = (await next.json()) as { value?: unknown }[]
    assert.deepEqual(
      messages.filter((message) => message.value !== undefined).map(({ value }) => value),
      [{ id: '2', title: 't2' }],
    )
    child.kill('SIGTERM')
    assert.equal(await exited, 0, stderr)
    assert.equal(stderr, '')
  } finally {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
})
