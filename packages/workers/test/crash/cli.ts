/**
 * `pnpm test:crash [--rounds N] [--seed S] [--min-ms A] [--max-ms B]`: the long-run crash loop
 * (loop.ts). Prints one line per round and the totals; exits 1 at the first violation, with
 * the seed to replay.
 */
import { parseArgs } from 'node:util'
import { runCrashLoop } from './loop.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '50' },
    seed: { type: 'string' },
    'min-ms': { type: 'string', default: '50' },
    'max-ms': { type: 'string', default: '2500' },
  },
})
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) >>> 0 : Number(values.seed)
const rounds = Number(values.rounds)
console.log(`crash loop: ${rounds} rounds, seed ${seed} (replay: pnpm test:crash --rounds ${rounds} --seed ${seed})`)
try {
  const result = await runCrashLoop({
    rounds,
    seed,
    killDelayMs: { min: Number(values['min-ms']), max: Number(values['max-ms']) },
    log: (line) => console.log(line),
  })
  console.log(
    `PASS: ${result.rounds} rounds in ${result.seconds.toFixed(0)} s, seed ${seed}: ${JSON.stringify(result.totals)}`,
  )
} catch (error) {
  console.error(`FAIL (seed ${seed}):`, error)
  process.exitCode = 1
}
