// Runs the damaged-values suite (damage met by reads) against the inline runtime. The worker
// runtime reads a stream and a small JSON range with this same code on its main thread (the
// reader pool calls readLogJson too). Run on the worker runtime, the suite's 60 engine opens and
// closes aborted the process once in seven runs, inside lmdb-js's native module initialisation
// in a new thread (FATAL ERROR in napi_register_module_v1), whatever the damage: not run there
// until that is understood.
import { inlineRuntime } from '../src/index.ts'
import { damagedValuesSuite } from './contract/damaged-values.ts'

damagedValuesSuite({ name: 'inline', runtime: inlineRuntime })
