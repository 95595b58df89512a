// Runs the bad-input suite (every public call given malformed input) against the inline runtime.
import { inlineRuntime } from '../src/index.ts'
import { badInputSuite } from './contract/bad-input.ts'

badInputSuite({ name: 'inline', runtime: inlineRuntime })
