// Runs the engine's model-based property, unchanged, against the worker runtime: appends,
// fan-outs, bursts, snapshots and reopens batched through writer threads and the shared key table.
import { modelSuite } from '@shapestore/engine/model'
import { workerRuntime } from '../src/index.ts'

modelSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 2 }) }, 10)
