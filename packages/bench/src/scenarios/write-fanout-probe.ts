// One runtime's write-fanout runs, in a fresh process: `write-fanout-probe.ts <runtime> <dir>`,
// on a directory of seeded shapes (handles in handles.json) no other run has written to.
// Prints one JSON line: the ms of every timed call, by `<layout>_<shapes>`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openEngine } from '@shapestore/engine'
import { RUNTIMES, type RuntimeName, rowPool, transactionItems } from './workload.ts'
import { FANOUTS, fanout, type Layout, PARTITIONS, REPEATS } from './write-fanout-call.ts'

const [runtime, dir] = process.argv.slice(2) as [RuntimeName, string]
const handles = JSON.parse(readFileSync(join(dir, 'handles.json'), 'utf8')) as string[]
const pool = rowPool(1_024)
const timings: Record<string, number[]> = {}
let nextTx = 1

const engine = await openEngine({ dir, partitions: PARTITIONS, runtime: RUNTIMES[runtime]() })
try {
  // Starts the writers and loads every shape's writer state; warms both layouts' code.
  for (const layout of ['shared', 'distinct'] as const) {
    await fanout(engine, handles, transactionItems(nextTx++, pool), layout)
  }
  for (const n of FANOUTS) {
    const targets = handles.slice(0, n)
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      // Layouts alternate (and swap order every repeat) so drift hits both alike.
      const layouts: Layout[] = repeat % 2 === 0 ? ['shared', 'distinct'] : ['distinct', 'shared']
      for (const layout of layouts) {
        const key = `${layout}_${n}`
        timings[key] ??= []
        timings[key].push(await fanout(engine, targets, transactionItems(nextTx++, pool), layout))
      }
    }
  }
} finally {
  await engine.close()
}
process.stdout.write(`${JSON.stringify(timings)}\n`)
