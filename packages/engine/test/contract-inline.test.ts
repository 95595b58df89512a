// Runs the public-API contract suite against the inline runtime (writers on the calling thread).
import { inlineRuntime } from '../src/index.ts'
import { contractSuite } from './contract/suite.ts'

contractSuite({ name: 'inline', runtime: inlineRuntime })
