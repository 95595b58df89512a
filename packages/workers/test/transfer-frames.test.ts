// Proves the turn buffers' rules: bytes encoded into a turn's buffers travel as they are, other
// bytes are copied in once, a turn's buffers are handed over whole, and only buffers of the
// pooled size come back into use; the turn counts its bytes, which is what sends a big turn early.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  FRAME_BYTES,
  FRAME_POOL_BYTES_MAX,
  OWN_BUFFER_POOLED_BYTES_MAX,
  TransferFrames,
  TURN_FLUSH_BYTES,
} from '../src/transfer-frames.ts'

test('reserved bytes are not copied again; foreign bytes are copied into the turn', () => {
  const frames = new TransferFrames()
  const reserved = frames.reserve(10)
  reserved.fill(7)
  assert.equal(frames.add(reserved), reserved)
  const foreign = Buffer.from('abc')
  const copy = frames.add(foreign)
  assert.notEqual(copy, foreign)
  assert.equal(copy.buffer, reserved.buffer, 'one buffer holds the turn while it has room')
  assert.deepEqual(Buffer.from(copy), foreign)
  const buffers = frames.take()
  assert.deepEqual(buffers, [reserved.buffer])
  assert.deepEqual(frames.take(), [], 'the next turn starts empty')
})

test('a turn that outgrows a frame takes another; a bigger payload gets its own buffer, pooled by multiples of a frame', () => {
  const frames = new TransferFrames()
  const first = frames.reserve(FRAME_BYTES - 1)
  const next = frames.reserve(2)
  const medium = frames.reserve(FRAME_BYTES + 1)
  const small = frames.reserve(10)
  const huge = frames.reserve(OWN_BUFFER_POOLED_BYTES_MAX + 1)
  const odd = frames.reserve(2 * FRAME_BYTES + 1)
  assert.equal(odd.buffer.byteLength, 3 * FRAME_BYTES, 'not a power of two: the next whole frame')
  assert.notEqual(next.buffer, first.buffer)
  assert.equal(medium.buffer.byteLength, 2 * FRAME_BYTES, 'rounded up to a multiple of a frame')
  assert.equal(small.buffer, next.buffer, 'the frame keeps its room after a payload of its own')
  assert.equal(huge.buffer.byteLength, OWN_BUFFER_POOLED_BYTES_MAX + 1)
  const turn = frames.take()
  assert.deepEqual(turn, [first.buffer, next.buffer, medium.buffer, huge.buffer, odd.buffer])
  frames.recycle(turn)
  const reused = new Set([frames.reserve(FRAME_BYTES).buffer, frames.reserve(FRAME_BYTES).buffer])
  assert.ok(reused.has(first.buffer as ArrayBuffer) && reused.has(next.buffer as ArrayBuffer), 'frames come back')
  assert.equal(frames.reserve(FRAME_BYTES + 5).buffer, medium.buffer, 'a buffer of its own size class comes back')
  assert.notEqual(
    frames.reserve(OWN_BUFFER_POOLED_BYTES_MAX + 1).buffer,
    huge.buffer,
    'past the pooled sizes, never kept',
  )
})

test('the kept buffers stop at FRAME_POOL_BYTES_MAX', () => {
  const frames = new TransferFrames()
  const count = FRAME_POOL_BYTES_MAX / FRAME_BYTES
  for (let i = 0; i <= count; i++) frames.reserve(FRAME_BYTES)
  const turn = frames.take()
  assert.equal(turn.length, count + 1)
  frames.recycle(turn)
  const back = new Set(Array.from({ length: count + 1 }, () => frames.reserve(FRAME_BYTES).buffer))
  assert.equal(turn.filter((buffer) => back.has(buffer)).length, count, 'one more than fits is dropped')
})

test('turnBytes counts what the turn reserved, and starts again at take', () => {
  const frames = new TransferFrames()
  frames.reserve(10)
  frames.add(Buffer.from('abc'))
  frames.reserve(FRAME_BYTES)
  assert.equal(frames.turnBytes, 10 + 3 + FRAME_BYTES)
  frames.take()
  assert.equal(frames.turnBytes, 0)
})

test('a big turn goes out early only once every reserved byte belongs to a queued operation', () => {
  const frames = new TransferFrames()
  // As appendToLogs does: every transaction encoded (reserved) before the first is queued (add).
  const encoded = Array.from({ length: TURN_FLUSH_BYTES / FRAME_BYTES + 1 }, () => frames.reserve(FRAME_BYTES))
  assert.ok(frames.turnBytes >= TURN_FLUSH_BYTES)
  for (const bytes of encoded.slice(0, -1)) {
    assert.equal(frames.add(bytes), bytes)
    assert.equal(frames.sendEarly, false, 'bytes of an operation not queued yet would be detached')
  }
  frames.add(encoded.at(-1) as Buffer)
  assert.equal(frames.sendEarly, true)
  // A copy made for a queued operation is claimed by it.
  frames.take()
  frames.reserve(TURN_FLUSH_BYTES)
  assert.equal(frames.sendEarly, false)
  frames.add(Buffer.from('abc'))
  assert.equal(frames.sendEarly, false, 'the reservation itself is still unclaimed')
})
