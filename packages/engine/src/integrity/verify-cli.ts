/**
 * `pnpm verify <dir>`: reads every page of a data directory's files and reports each file's
 * state (see verify-store.ts). Exit code 0 if all are sound, 1 if one is damaged, 2 on misuse.
 * Run it on a directory no engine has open (it takes the directory lock).
 */
import { verifyStore } from './verify-store.ts'

const dir = process.argv[2]
if (dir === undefined) {
  console.error('usage: pnpm verify <dir>')
  process.exit(2)
}
const files = verifyStore(dir)
for (const { file, pages, problem } of files) {
  console.log(problem === undefined ? `ok       ${file} (${pages} pages read)` : `DAMAGED  ${file}: ${problem}`)
}
process.exitCode = files.some(({ problem }) => problem !== undefined) ? 1 : 0
