// Runs the engine's public-API contract suite, unchanged, against the worker runtime.
import { contractSuite } from '@shapestore/engine/contract'
import { workerRuntime } from '../src/index.ts'

contractSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 2 }) })
