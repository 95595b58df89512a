// Runs the damaged-store suite (reads and writes that meet damage) against the inline
// runtime; the workers package runs it against the worker runtime.
import { inlineRuntime } from '../src/index.ts'
import { damagedStoreSuite } from './contract/damaged-store.ts'

damagedStoreSuite({ name: 'inline', runtime: inlineRuntime })
