/**
 * What the crash loop's parent knows from its children's reports (see child.ts for the line
 * protocol), folded over every round. Intents say what may exist; acknowledgements say what
 * must exist; the checker (check.ts) compares the reopened store with both.
 */
import type { ShapeHandle } from '@shapestore/engine'

export interface ShapeRecord {
  readonly slot: number
  readonly gen: number
  handle: ShapeHandle | undefined
  /** getOrCreateShape resolved (or the shape was found in a check): it must exist unless removed. */
  created: boolean
  pgIssued: boolean
  /** setPgSnapshot resolved, or a check found it: the pg snapshot must be there. */
  pgDurable: boolean
  snapshotIssued: boolean
  /** makeNewSnapshot resolved (its last chunk), or a check found it complete. */
  snapshotLast: string | undefined
  removeIssued: boolean
  removeAcked: boolean
  /** Transactions sent to this shape (by any child), and those acknowledged. */
  readonly sent: Set<number>
  readonly acked: Set<number>
  /** Transactions a check found: durable, they may never go away. */
  found: Set<number>
}

export interface Send {
  readonly t: number
  /** The shapes that must hold t once the send is acknowledged (not those already past t). */
  readonly handles: readonly ShapeHandle[]
}

export interface RoundReport {
  acks: number
  sends: number
  removals: number
  snapshots: number
  hibernations: number
  reads: number
  created: number
}

export class CrashRecord {
  readonly byGen = new Map<number, ShapeRecord>()
  readonly byHandle = new Map<ShapeHandle, ShapeRecord>()
  /** Every append sent, by `<epoch>:<id>`. */
  readonly sends = new Map<string, Send>()
  /** How many sends carried transaction t to a shape, by `<handle> <t>`. */
  readonly sendCounts = new Map<string, number>()
  maxSentTx = 0

  /** Folds one child's stdout lines (complete ones only) into the record. */
  absorb(lines: readonly string[], epoch: number): RoundReport {
    const report: RoundReport = { acks: 0, sends: 0, removals: 0, snapshots: 0, hibernations: 0, reads: 0, created: 0 }
    for (const line of lines) {
      const [kind, a, b, c, d] = line.split(' ')
      switch (kind) {
        case 'create':
          this.#gen(Number(a), Number(b))
          break
        case 'shape': {
          const record = this.#gen(Number(a), Number(b))
          this.setHandle(record, c as ShapeHandle)
          if (!record.created) report.created++
          record.created = true
          break
        }
        case 'tx': {
          const t = Number(b)
          const list = (text: string | undefined) => (text === undefined || text === '-' ? [] : text.split(','))
          const handles = list(c) as ShapeHandle[]
          this.sends.set(`${epoch}:${a}`, { t, handles })
          for (const handle of [...handles, ...list(d)] as ShapeHandle[]) {
            this.#handle(handle, line).sent.add(t)
            const key = `${handle} ${t}`
            this.sendCounts.set(key, (this.sendCounts.get(key) ?? 0) + 1)
          }
          this.maxSentTx = Math.max(this.maxSentTx, t)
          report.sends++
          break
        }
        case 'ack': {
          const send = this.sends.get(`${epoch}:${a}`)
          if (send === undefined) throw new Error(`round ${epoch}: ack of an unknown send: ${line}`)
          for (const handle of send.handles) this.#handle(handle, line).acked.add(send.t)
          report.acks++
          break
        }
        case 'pg':
          this.#handle(a as ShapeHandle, line).pgIssued = true
          break
        case 'pgok':
          this.#handle(a as ShapeHandle, line).pgDurable = true
          break
        case 'snapstart':
          this.#handle(a as ShapeHandle, line).snapshotIssued = true
          break
        case 'snap':
          this.#handle(a as ShapeHandle, line).snapshotLast = b
          report.snapshots++
          break
        case 'remove':
          this.#handle(a as ShapeHandle, line).removeIssued = true
          break
        case 'removed':
          this.#handle(a as ShapeHandle, line).removeAcked = true
          report.removals++
          break
        case 'hib':
          report.hibernations++
          break
        case 'reads':
          report.reads = Number(a)
          break
        case 'resume':
        case 'ready':
          break
        default:
          throw new Error(`round ${epoch}: unexpected child output: ${line}`)
      }
    }
    return report
  }

  setHandle(record: ShapeRecord, handle: ShapeHandle): void {
    if (record.handle !== undefined && record.handle !== handle) {
      throw new Error(`shape ${record.slot}/${record.gen} has handle ${handle}, was ${record.handle}`)
    }
    record.handle = handle
    this.byHandle.set(handle, record)
  }

  #gen(slot: number, gen: number): ShapeRecord {
    let record = this.byGen.get(gen)
    if (record === undefined) {
      record = {
        slot,
        gen,
        handle: undefined,
        created: false,
        pgIssued: false,
        pgDurable: false,
        snapshotIssued: false,
        snapshotLast: undefined,
        removeIssued: false,
        removeAcked: false,
        sent: new Set(),
        acked: new Set(),
        found: new Set(),
      }
      this.byGen.set(gen, record)
    }
    if (record.slot !== slot) throw new Error(`generation ${gen} in slots ${record.slot} and ${slot}`)
    return record
  }

  #handle(handle: ShapeHandle, line: string): ShapeRecord {
    const record = this.byHandle.get(handle)
    if (record === undefined) throw new Error(`a report about a shape never announced: ${line}`)
    return record
  }
}
