// Runs the engine's damaged-store suite (reads and writes that meet damage) against the
// worker runtime, whose main-thread reads renew their transaction only after a writer's commit.
import { damagedStoreSuite } from '@shapestore/engine/damaged-store'
import { workerRuntime } from '../src/index.ts'

damagedStoreSuite({ name: 'worker', runtime: () => workerRuntime({ writers: 1 }) })
