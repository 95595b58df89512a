// Runs the model-based property (test/contract/model.ts) against the inline runtime.
import { inlineRuntime } from '../src/index.ts'
import { modelSuite } from './contract/model.ts'

modelSuite({ name: 'inline', runtime: inlineRuntime }, 60)
