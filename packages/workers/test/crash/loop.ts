/**
 * The crash loop: rounds of "start a child on the directory, let it run its mixed load on the
 * worker runtime, SIGKILL it at a seeded random instant, reopen and check" (child.ts, check.ts).
 * The store carries over from round to round, so each child also resumes after a crash:
 * it replays the last transactions sent (idempotent appends), restarts interrupted snapshots
 * and finishes interrupted removals (the engine does that at open). The check runs on a copy:
 * its own open would do that recovery first, and the next child would never be killed in it.
 *
 * The seed fixes the kill delays and the children's choices; thread timing still varies, so a
 * seed does not replay a failure instruction for instruction, but it replays the same mix.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Engine, EngineError, ErrorCode, openEngine } from '@shapestore/engine'
import { prng } from '@shapestore/engine/crash-kit'
import { workerRuntime } from '../../src/index.ts'
import { checkStore } from './check.ts'
import { CrashRecord, type RoundReport } from './record.ts'
import { engineOptions } from './workload.ts'

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url))
const WORKERS_DIR = fileURLToPath(new URL('../..', import.meta.url))
/** A replayed window: each child starts this many transactions before the highest one sent. */
const REPLAY_TXS = 3
/**
 * Share of rounds whose kill delay counts from `ready` (the kill may land in recovery: reopening,
 * finishing removals, restarting snapshots, starting threads); the others count from the first
 * acknowledged append, so the kill lands under load however long the start took.
 */
const KILL_FROM_READY_SHARE = 0.25
/** Longest wait for a first acknowledgement before the delay starts anyway. */
const FIRST_ACK_WAIT_MS = 20_000

export interface CrashLoopOptions {
  readonly rounds: number
  readonly seed: number
  /** How long a child runs (after `ready` or its first ack) before the kill: uniform in [min, max]. */
  readonly killDelayMs?: { readonly min: number; readonly max: number } | undefined
  /** Share of rounds whose delay counts from `ready` rather than the first ack. Default 0.25. */
  readonly killFromReadyShare?: number | undefined
  readonly log?: ((line: string) => void) | undefined
  /** Run in this (caller-owned, kept) directory instead of a temporary one. */
  readonly dir?: string | undefined
}

export interface CrashLoopResult {
  readonly rounds: number
  readonly seconds: number
  readonly totals: RoundReport & { shapesAtEnd: number; transactionsAtEnd: number; interruptedSnapshotsSeen: number }
  /** What the children reported, as the last check left it. */
  readonly record: CrashRecord
}

interface ChildRun {
  readonly process: ChildProcess
  readonly ready: Promise<void>
  /** Resolves at the child's first acknowledged append (never, if it has none). */
  readonly firstAck: Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  lines(): string[]
  stderr(): string
}

function startChild(args: readonly string[]): ChildRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: WORKERS_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let readySeen = false
  let onReady: () => void = () => {}
  let ackSeen = false
  let onFirstAck: () => void = () => {}
  const firstAck = new Promise<void>((resolve) => {
    onFirstAck = resolve
  })
  let onEarlyExit: (error: Error) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onEarlyExit = reject
  })
  ready.catch(() => {})
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (data: string) => {
    stdout += data
    if (!readySeen && /^ready$/m.test(stdout)) {
      readySeen = true
      onReady()
    }
    if (!ackSeen && /^ack /m.test(stdout)) {
      ackSeen = true
      onFirstAck()
    }
  })
  child.stderr.on('data', (data: string) => {
    stderr += data
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      onEarlyExit(new Error(`child exited (code ${code}, signal ${signal}) before ready:\n${stderr}`))
      resolve({ code, signal })
    })
  })
  return {
    process: child,
    ready,
    firstAck,
    exited,
    // A line cut by the kill is dropped: only complete lines are facts.
    lines: () =>
      stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter(Boolean),
    stderr: () => stderr,
  }
}

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopResult> {
  const { rounds, seed } = options
  assert.ok(Number.isSafeInteger(rounds) && rounds >= 1, `rounds must be a positive integer, got ${rounds}`)
  assert.ok(Number.isSafeInteger(seed) && seed >= 0, `seed must be a non-negative integer, got ${seed}`)
  const delay = options.killDelayMs ?? { min: 50, max: 2500 }
  const log = options.log ?? (() => {})
  const random = prng(seed)
  const record = new CrashRecord()
  const totals = {
    acks: 0,
    sends: 0,
    removals: 0,
    snapshots: 0,
    hibernations: 0,
    reads: 0,
    created: 0,
    shapesAtEnd: 0,
    transactionsAtEnd: 0,
    interruptedSnapshotsSeen: 0,
  }
  const root = options.dir === undefined ? mkdtempSync(join(tmpdir(), 'shapestore-crash-loop-')) : undefined
  const dir = options.dir ?? join(root as string, 'data')
  const started = Date.now()
  const reports: string[] = []
  let keep = false
  try {
    for (let round = 1; round <= rounds; round++) {
      const name = `round ${round} (seed ${seed})`
      const startTx = Math.max(1, record.maxSentTx - REPLAY_TXS + 1)
      const child = startChild([dir, String(seed), String(round), String(startTx)])
      reports.push(`# round ${round}`)
      const wait = delay.min + Math.floor(random() * (delay.max - delay.min + 1))
      let fromReady = false
      try {
        await child.ready
        fromReady = random() < (options.killFromReadyShare ?? KILL_FROM_READY_SHARE)
        if (!fromReady) {
          // A child that acknowledges nothing (stuck, or dead before its first ack) is a failure:
          // killing it would check an idle store and prove nothing.
          const first = await Promise.race([
            child.firstAck.then(() => 'ack'),
            child.exited.then(() => 'exit'),
            sleep(FIRST_ACK_WAIT_MS, 'timeout', { ref: false }),
          ])
          assert.equal(
            first,
            'ack',
            `${name}: no append acknowledged ${first === 'exit' ? 'before the child exited' : `in ${FIRST_ACK_WAIT_MS} ms`}:\n${child.stderr()}`,
          )
        }
        // A second process (this one) is refused while the child holds the directory.
        const second = await openEngine({ ...engineOptions(dir), runtime: workerRuntime({ writers: 1 }) }).catch(
          (error: unknown) => error,
        )
        if (!EngineError.isCode(second, ErrorCode.DIRECTORY_LOCKED)) {
          // Opened (its threads would keep this process alive) or refused for another reason.
          if (second instanceof Engine) await second.close()
          assert.fail(`${name}: a second process opened the directory (${String(second)}):\n${child.stderr()}`)
        }
        await new Promise((resolve) => setTimeout(resolve, wait))
      } finally {
        child.process.kill('SIGKILL')
      }
      const exit = await child.exited
      reports.push(...child.lines())
      assert.equal(exit.signal, 'SIGKILL', `${name}: the child died on its own (code ${exit.code}):\n${child.stderr()}`)
      const report = record.absorb(child.lines(), round)
      // The copy as the kill left it (the child holds no lock any more).
      const checked = `${dir}.checked`
      rmSync(checked, { recursive: true, force: true })
      cpSync(dir, checked, { recursive: true })
      const summary = await checkStore(checked, seed, record, name)
      for (const key of Object.keys(report) as Array<keyof RoundReport>) totals[key] += report[key]
      totals.shapesAtEnd = summary.shapes
      totals.transactionsAtEnd = summary.transactions
      totals.interruptedSnapshotsSeen += summary.interruptedSnapshots
      log(
        `${name}: killed ${wait} ms after ${fromReady ? 'ready' : 'the first ack'}; ${report.acks}/${report.sends} appends acked, ${report.removals} removals, ` +
          `${report.snapshots} snapshots, ${report.hibernations} hibernations, ${report.reads} reads checked; ` +
          `store: ${summary.shapes} shapes, ${summary.transactions} shape-transactions, ` +
          `${summary.completeSnapshots} complete / ${summary.interruptedSnapshots} interrupted snapshots`,
      )
    }
  } catch (error) {
    // Keep the evidence of any failure, the child's or the check's: the store and every report.
    keep = true
    writeFileSync(join(dir, '..', 'child-reports.log'), reports.join('\n'))
    throw Object.assign(error as Error, {
      message: `${(error as Error).message} (evidence kept in ${join(dir, '..')})`,
    })
  } finally {
    if (!keep) rmSync(root ?? `${dir}.checked`, { recursive: true, force: true })
  }
  return { rounds, seconds: (Date.now() - started) / 1000, totals, record }
}
