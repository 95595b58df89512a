// Runs the damaged-values suite (damage met by reads) against the inline runtime; the workers
// package runs it against the worker runtime.
import { inlineRuntime } from '../src/index.ts'
import { damagedValuesSuite } from './contract/damaged-values.ts'

damagedValuesSuite({ name: 'inline', runtime: inlineRuntime })
