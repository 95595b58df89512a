// Runs the engine's damaged-values suite (damage met by reads) against the worker runtime: the
// same read code runs on its main thread and in the reader pool, behind writer threads.
import { damagedValuesSuite } from '@shapestore/engine/damaged-values'
import { workerRuntime } from '../src/index.ts'

damagedValuesSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 2 }) })
