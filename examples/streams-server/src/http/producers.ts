import type { ProducerState } from '../stream-record.ts'
import type { ProducerRequest } from './request-headers.ts'
import type { Headers } from './respond.ts'

/** What an idempotent producer's append gets (§5.2.1). */
export type ProducerVerdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'duplicate' | 'refuse'; readonly status: number; readonly headers: Headers }

/**
 * The protocol's validation: a stale epoch is fenced (403), a new epoch starts at seq 0, a seq
 * at or below the last accepted one is a duplicate (204, nothing appended), a gap is 409.
 * Producer state is per stream; a fork starts with none.
 */
export function acceptProducer(state: ProducerState | undefined, request: ProducerRequest): ProducerVerdict {
  const { epoch, seq } = request
  if (state !== undefined && epoch < state.epoch) {
    return { kind: 'refuse', status: 403, headers: { 'producer-epoch': state.epoch } }
  }
  if (state === undefined || epoch > state.epoch) {
    if (seq !== 0) {
      return { kind: 'refuse', status: 400, headers: { 'producer-epoch': epoch } }
    }
    return { kind: 'accept' }
  }
  if (seq <= state.seq) {
    return { kind: 'duplicate', status: 204, headers: { 'producer-epoch': epoch, 'producer-seq': state.seq } }
  }
  if (seq === state.seq + 1) return { kind: 'accept' }
  return {
    kind: 'refuse',
    status: 409,
    headers: { 'producer-expected-seq': state.seq + 1, 'producer-received-seq': seq },
  }
}
