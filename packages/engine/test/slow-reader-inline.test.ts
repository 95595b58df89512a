// Runs the slow-reader suite (file growth under a stalled stream) against the inline runtime.
import { inlineRuntime } from '../src/index.ts'
import { slowReaderSuite } from './contract/slow-reader.ts'

slowReaderSuite({ name: 'inline', runtime: inlineRuntime })
