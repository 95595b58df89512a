/**
 * Seed, path and run count of a property-based test, from `<PREFIX>_SEED`, `<PREFIX>_PATH` and
 * `<PREFIX>_RUNS`. Without a seed, a fresh one is drawn and printed, so any failure can be
 * replayed exactly with the line the test prints.
 */
export function fuzzParameters(
  prefix: string,
  defaultRuns: number,
): { seed: number; path: string | undefined; runs: number; describe: string } {
  const seed = envInt(`${prefix}_SEED`) ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0
  const path = process.env[`${prefix}_PATH`] || undefined
  const runs = envInt(`${prefix}_RUNS`) ?? defaultRuns
  const describe = `${prefix}_SEED=${seed} ${prefix}_RUNS=${runs}${path === undefined ? '' : ` ${prefix}_PATH=${path}`}`
  console.log(`fuzz: ${describe}`)
  return { seed, path, runs, describe }
}

function envInt(name: string): number | undefined {
  const value = process.env[name]
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${value}`)
  return n
}
