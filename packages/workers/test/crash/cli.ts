/**
 * `pnpm test:crash [--rounds N] [--seed S] [--min-ms A] [--max-ms B]`: the long-run crash loop
 * (loop.ts). Prints one line per round and the totals; exits 1 at the first violation, with
 * the seed to replay.
 */
import { commandLine } from '@shapestore/engine/command-line'
import { runCrashLoop } from './loop.ts'

const USAGE = `usage: pnpm test:crash [--rounds N] [--seed S] [--min-ms A] [--max-ms B]
  Each round SIGKILLs a child under mixed load after A-B ms (default 50-2500), reopens the store
  and checks that everything acknowledged is there. Default 50 rounds, a random seed; the seed
  is printed, to replay a run. Exit 1 at the first violation.`

const { values } = commandLine(USAGE, {
  options: {
    rounds: { type: 'string', default: '50' },
    seed: { type: 'string' },
    'min-ms': { type: 'string', default: '50' },
    'max-ms': { type: 'string', default: '2500' },
  },
})
const seed = values.seed === undefined ? (Math.random() * 2 ** 31) >>> 0 : Number(values.seed)
const rounds = Number(values.rounds)
const [minMs, maxMs] = [Number(values['min-ms']), Number(values['max-ms'])]
if (![seed, rounds, minMs, maxMs].every(Number.isSafeInteger) || rounds < 1 || minMs < 0 || maxMs < minMs) {
  console.error(`--rounds, --seed, --min-ms and --max-ms take integers (rounds >= 1, 0 <= min <= max)\n\n${USAGE}`)
  process.exit(2)
}
console.log(`crash loop: ${rounds} rounds, seed ${seed} (replay: pnpm test:crash --rounds ${rounds} --seed ${seed})`)
try {
  const result = await runCrashLoop({
    rounds,
    seed,
    killDelayMs: { min: minMs, max: maxMs },
    log: (line) => console.log(line),
  })
  console.log(
    `PASS: ${result.rounds} rounds in ${result.seconds.toFixed(0)} s, seed ${seed}: ${JSON.stringify(result.totals)}`,
  )
} catch (error) {
  console.error(`FAIL (seed ${seed}):`, error)
  process.exitCode = 1
}
