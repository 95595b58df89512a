import { fileURLToPath } from 'node:url'

/** The repository root: the embedded default data and results directories live under it. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
/** Where seeded benchmark data lives by default (git-ignored; reused across runs). */
export const defaultDataDir = fileURLToPath(new URL('../../../data/bench/', import.meta.url))
/** Where results.json and the report go by default (git-ignored). */
export const defaultResultsDir = fileURLToPath(new URL('../../../results/', import.meta.url))
/** packages/bench: where the gate runs its probe processes from (tsx resolves from here). */
export const benchRoot = fileURLToPath(new URL('../', import.meta.url))
