#!/usr/bin/env node
/**
 * `shapestore-verify --dir <dir>` (the engine package's bin; `pnpm verify --dir <dir>` in the
 * workspace): reads every page of a data directory's files and reports each file's state (see
 * verify-store.ts). Exit code 0 if all are sound, 1 if one is damaged, 2 on misuse or when the
 * directory cannot be checked at all. Run it on a directory no engine has open (it takes the
 * directory lock).
 */
import { commandLine } from '../command-line.ts'
import { EngineError } from '../errors.ts'
import { verifyStore } from './verify-store.ts'

const USAGE = `usage: shapestore-verify --dir <data directory>
  Reads every page of the directory's LMDB files and reports each file: ok, or DAMAGED and why.
  Run it on a directory no engine has open. Exit status: 0 all sound, 1 damage found,
  2 misuse or a directory that cannot be checked.`

function main(): number {
  const args = commandLine(USAGE, {
    options: { dir: { type: 'string' } },
    allowPositionals: true,
  })
  // `--dir D` (as the example servers take it) or a lone `D`.
  const dir = args.values.dir ?? args.positionals[0]
  if (dir === undefined || args.positionals.length > (args.values.dir === undefined ? 1 : 0)) {
    console.error(USAGE)
    return 2
  }
  let files: ReturnType<typeof verifyStore>
  try {
    files = verifyStore(dir)
  } catch (error) {
    const code = error instanceof EngineError ? `${error.code}: ` : ''
    console.error(`shapestore-verify: ${code}${(error as Error).message}`)
    return 2
  }
  for (const { file, pages, problem } of files) {
    console.log(problem === undefined ? `ok       ${file} (${pages} pages read)` : `DAMAGED  ${file}: ${problem}`)
  }
  return files.some(({ problem }) => problem !== undefined) ? 1 : 0
}

process.exitCode = main()
