// Proves the packages install and run as a server author gets them: packed as they would be
// published (compiled JavaScript, declarations, no tsx), installed with plain npm into a project
// outside the workspace, the README's example run with plain `node` on both runtimes and a
// pooled read on compiled reader threads, a consumer type-checked under `strict` with
// `moduleResolution: nodenext`, and publint and arethetypeswrong clean on both tarballs.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const require = createRequire(import.meta.url)
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** Runs a command to completion; fails the test with its output if it exits non-zero. */
function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 240_000 })
  assert.equal(result.status, 0, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

/** pnpm as it runs this test (`pnpm test` sets npm_execpath), else the one on the PATH. */
function pnpm(args: readonly string[], cwd: string): string {
  const execpath = process.env.npm_execpath
  if (execpath?.includes('pnpm') === true) {
    return /\.[cm]?js$/.test(execpath) ? run(process.execPath, [execpath, ...args], cwd) : run(execpath, args, cwd)
  }
  return run('pnpm', args, cwd)
}

const POOLED_READ = `
import { openEngine } from '@shapestore/engine'
import { workerRuntime } from '@shapestore/workers'
const engine = await openEngine({ dir: process.argv[2], runtime: workerRuntime({ writers: 1, readers: 1 }) })
const { handle } = await engine.getOrCreateShape({ table: 'items' })
const rows = Array.from({ length: 4000 }, (_, i) => JSON.stringify({ key: String(i), value: { pad: 'x'.repeat(200) } }))
await engine.makeNewSnapshot(handle, rows)
// The reader threads start on the first big read (which is then read inline): read until one is pooled.
let pooled
for (let i = 0; i < 200 && pooled === undefined; i++) {
  const before = engine.stats().pooledLogReads
  const json = await engine.getLogJson(handle, '-1')
  if (engine.stats().pooledLogReads > before) pooled = json
  else await new Promise((resolve) => setTimeout(resolve, 25))
}
await engine.close()
console.log(pooled === undefined ? 'never pooled' : \`pooled \${JSON.parse(pooled.toString()).length} rows\`)
`

test('the packed packages install with npm and run with plain node, types and all', { timeout: 600_000 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'shapestore-install-'))
  try {
    const packs = join(scratch, 'packs')
    for (const name of ['engine', 'workers']) pnpm(['pack', '--pack-destination', packs], join(root, 'packages', name))
    const tarballs = readdirSync(packs).map((file) => join(packs, file))
    assert.equal(tarballs.length, 2)
    for (const tarball of tarballs) {
      const listing = run('tar', ['tzf', tarball], scratch)
      assert.match(listing, /package\/dist\/index\.js/)
      assert.match(listing, /package\/dist\/index\.d\.ts/)
      assert.doesNotMatch(listing, /package\/test\//, 'the test suites stay out of the package')
      run(join(root, 'node_modules', '.bin', 'publint'), [tarball, '--strict'], scratch)
      run(join(root, 'node_modules', '.bin', 'attw'), ['--profile', 'esm-only', tarball], scratch)
    }
    const workersManifest = JSON.parse(
      run('tar', ['xzOf', tarballs.find((t) => t.includes('workers')) as string, 'package/package.json'], scratch),
    )
    assert.equal(workersManifest.dependencies.tsx, undefined, 'tsx is not a run-time dependency')

    const project = join(scratch, 'project')
    run('mkdir', ['-p', project], scratch)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    const typesNode = `@types/node@${(require('@types/node/package.json') as { version: string }).version}`
    const typescript = `typescript@${(require('typescript/package.json') as { version: string }).version}`
    run('npm', ['install', '--no-audit', '--no-fund', ...tarballs, typesNode, typescript], project)

    const example = /## Using the engine[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(example, 'the README has a ts example under "Using the engine"')
    const inline = example.replace(', runtime: workerRuntime({ writers: 2 })', '')
    assert.notEqual(inline, example, 'the example names the worker runtime where the inline one can replace it')
    for (const [name, source] of [
      ['workers', example],
      ['inline', inline],
    ] as const) {
      const file = join(project, `example-${name}.mjs`)
      writeFileSync(file, source.replace("'./data'", JSON.stringify(join(scratch, `data-${name}`))))
      const output = run(process.execPath, [file], project)
      assert.match(output, /"key":"1"/, `${name}: the snapshot row is streamed`)
      assert.match(output, /"key":"2"/, `${name}: the log row is streamed`)
    }
    writeFileSync(join(project, 'pooled.mjs'), POOLED_READ)
    assert.equal(
      run(process.execPath, ['pooled.mjs', join(scratch, 'data-pooled')], project).trim(),
      'pooled 4000 rows',
    )

    // The two lines after the example fail to compile only if the declarations are real types:
    // with an unresolved import they would be \`any\`, and the unused @ts-expect-error fails.
    writeFileSync(
      join(project, 'consumer.ts'),
      `${example}
// @ts-expect-error appendToLog takes an array of items
await engine.appendToLog(handle, 'not items')
// @ts-expect-error writers is a number
workerRuntime({ writers: 'two' })
`,
    )
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          lib: ['es2023'],
          types: ['node'],
          noEmit: true,
          // lmdb's own index.d.ts does not compile under nodenext (TS1203); ours are checked
          // through the consumer above.
          skipLibCheck: true,
        },
        files: ['consumer.ts'],
      }),
    )
    run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
})
