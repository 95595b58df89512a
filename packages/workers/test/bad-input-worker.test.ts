// Runs the engine's bad-input suite, unchanged, against the worker runtime (writer threads, shared key table).
import { badInputSuite } from '@shapestore/engine/bad-input'
import { workerRuntime } from '../src/index.ts'

badInputSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 2 }) })
