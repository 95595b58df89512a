// Runs the engine's slow-reader suite (file growth under a stalled stream) against the worker runtime.
import { slowReaderSuite } from '@shapestore/engine/slow-reader'
import { workerRuntime } from '../src/index.ts'

slowReaderSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 2 }) })
