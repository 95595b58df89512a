import type { IncomingMessage, ServerResponse } from 'node:http'
import { type LogItem, LogOffset } from '@shapestore/engine'
import { bodyOf, itemsOf, readRange } from '../messages.ts'
import { parseOffset } from '../stream-offset.ts'
import { isJson, mediaType, type StreamConfig } from '../stream-record.ts'
import type { Stream, StreamStore } from '../stream-store.ts'
import { readBody } from './body.ts'
import { acceptProducer, type ProducerVerdict } from './producers.ts'
import {
  closedHeader,
  expiryHeaders,
  header,
  type ProducerRequest,
  plainInteger,
  producerHeaders,
} from './request-headers.ts'
import { type Headers, HttpError, send } from './respond.ts'
import { liveStream, streamHeaders, tailHeaders } from './stream-answers.ts'

/** PUT: create a stream (or a fork), or confirm one that exists with the same configuration (§5.1). */
export async function createStream(
  store: StreamStore,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { ttlSeconds, expiresAt } = expiryHeaders(req)
  const closed = closedHeader(req)
  const forkedFrom = header(req, 'stream-forked-from')
  const requestedType = header(req, 'content-type')?.trim() || undefined
  const body = await readBody(req)
  await store.exclusive(path, async () => {
    const existing = await store.beforeCreate(path)
    if (existing?.record.softDeleted === true) throw new HttpError(409, 'a deleted stream still has forks at this path')
    if (forkedFrom === undefined && header(req, 'stream-fork-sub-offset') !== undefined) {
      throw new HttpError(400, 'Stream-Fork-Sub-Offset needs Stream-Forked-From')
    }
    const fork = forkedFrom === undefined ? null : await forkOrigin(store, req, forkedFrom)
    const contentType = requestedType ?? fork?.contentType ?? 'application/octet-stream'
    if (fork !== null && requestedType !== undefined && mediaType(requestedType) !== mediaType(fork.contentType)) {
      throw new HttpError(409, 'a fork has its source stream content type')
    }
    const inherited = fork?.inherit ?? { ttlSeconds: null, expiresAt: null }
    const expiry = ttlSeconds === null && expiresAt === null ? inherited : { ttlSeconds, expiresAt }
    const config: StreamConfig = {
      contentType,
      ...expiry,
      fork: fork?.origin ?? null,
    }
    if (existing !== undefined) {
      if (!sameConfig(existing.config, config) || existing.record.closed !== closed) {
        throw new HttpError(409, 'the stream exists with another configuration')
      }
      send(res, 200, streamHeaders(store, existing))
      return
    }
    // The first appends, checked before anything is created: a bad body creates nothing.
    let tx = fork === null || !fork.through.isReal ? 1 : fork.through.tx + 1
    const appends: LogItem[][] = []
    for (const bytes of [fork?.prefix ?? null, body]) {
      const items = bytes === null ? [] : itemsOf(config, bytes, tx, true)
      if (items.length === 0) continue
      appends.push(items)
      tx++
    }
    const stream = await store.create(path, config)
    try {
      for (const items of appends) await store.append(stream, items)
      stream.nextTx = tx
      stream.record.closed = closed
      if (fork !== null) {
        // The source as it was read: deleted meanwhile (or deleted and created again), it has
        // nothing to lend the fork.
        const source = store.get(fork.origin.source, { includeExpired: true })
        if (source?.record.handle !== fork.sourceHandle || source.record.softDeleted) {
          throw new HttpError(409, `the stream at ${fork.origin.source} was deleted while the fork was created`)
        }
        source.record.forks.push(path)
        await store.save(source)
      }
      await store.save(stream)
    } catch (error) {
      store.abandonCreation(path)
      // Its shape and what was appended to it go too: nothing refers to them; nor does its
      // source, if it was listed there (a save that failed after: best effort).
      await store.engine.removeShape(stream.record.handle).catch(() => {})
      const source = fork === null ? undefined : store.get(fork.origin.source, { includeExpired: true })
      if (source?.record.forks.includes(path) === true) {
        source.record.forks = source.record.forks.filter((fork) => fork !== path)
        await store.save(source).catch(() => {})
      }
      throw error
    }
    store.adopt(stream)
    const headers = streamHeaders(store, stream)
    headers.location = `http://${header(req, 'host') ?? 'localhost'}${path}`
    send(res, 201, headers)
  })
}

/**
 * The source and fork point of a fork creation (§4.2). A sub-offset takes part of the source's
 * next append: for a JSON source the fork point moves to its Nth message (nothing is copied);
 * for any other content type the first N bytes become the fork's first item (`prefix`).
 */
async function forkOrigin(store: StreamStore, req: IncomingMessage, sourcePath: string) {
  const source = store.get(sourcePath)
  if (source === undefined) throw new HttpError(404, `no stream at ${sourcePath} to fork`)
  if (source.record.softDeleted) throw new HttpError(409, `the stream at ${sourcePath} is deleted`)
  const tail = store.tail(source)
  const offsetText = header(req, 'stream-fork-offset')
  let anchor = tail
  if (offsetText !== undefined) {
    const offset = parseOffset(offsetText.trim())
    if (offset === null) throw new HttpError(400, 'Stream-Fork-Offset is not an offset')
    if (offset.isAfter(tail)) throw new HttpError(400, 'Stream-Fork-Offset is past the source stream tail')
    anchor = offset
  }
  const subText = header(req, 'stream-fork-sub-offset')
  const subOffset = subText === undefined ? 0 : plainInteger(subText.trim(), 'Stream-Fork-Sub-Offset')
  let through = anchor
  let prefix: Buffer | null = null
  if (subOffset > 0) {
    // Appends take consecutive transaction numbers, so the next one after the anchor is anchor.tx + 1.
    const nextAppend = LogOffset.of(anchor.tx + 1, Number.MAX_SAFE_INTEGER)
    const next = await readRange(store, source, anchor, nextAppend.isBefore(tail) ? nextAppend : tail)
    if (isJson(source.config)) {
      const count = (JSON.parse(bodyOf(source.config, next.parts).toString('utf8')) as unknown[]).length
      if (subOffset > count) throw new HttpError(400, 'Stream-Fork-Sub-Offset is past the next append')
      through = LogOffset.of(anchor.tx + 1, subOffset - 1)
    } else {
      const bytes = bodyOf(source.config, next.parts)
      if (subOffset > bytes.length) throw new HttpError(400, 'Stream-Fork-Sub-Offset is past the next append')
      if (subOffset === bytes.length) through = LogOffset.of(anchor.tx + 1, 0)
      else prefix = bytes.subarray(0, subOffset)
    }
  }
  const { ttlSeconds, expiresAt } = source.config
  return {
    origin: { source: sourcePath, through: through.toString(), subOffset },
    sourceHandle: source.record.handle,
    through,
    prefix,
    contentType: source.config.contentType,
    inherit: { ttlSeconds, expiresAt },
  }
}

function sameConfig(a: StreamConfig, b: StreamConfig): boolean {
  return (
    mediaType(a.contentType) === mediaType(b.contentType) &&
    a.ttlSeconds === b.ttlSeconds &&
    sameInstant(a.expiresAt, b.expiresAt) &&
    a.fork?.source === b.fork?.source &&
    a.fork?.through === b.fork?.through &&
    a.fork?.subOffset === b.fork?.subOffset
  )
}

function sameInstant(a: string | null, b: string | null): boolean {
  return a === b || (a !== null && b !== null && Date.parse(a) === Date.parse(b))
}

/** POST: append, close, or both (§5.2, §5.3). */
export async function appendToStream(
  store: StreamStore,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const request: AppendRequest = {
    producer: producerHeaders(req),
    closing: closedHeader(req),
    streamSeq: header(req, 'stream-seq'),
    contentType: header(req, 'content-type'),
    body: await readBody(req),
  }
  // A stream whose earlier write failed is let go once its writes settle (StreamStore.forget):
  // the request then runs on the stream as the disk has it, never on what memory had promised.
  for (;;) {
    const stream = liveStream(store, path)
    if (stream.stale) await stream.settled()
    else if (await appendTo(store, stream, request, res)) return
  }
}

interface AppendRequest {
  readonly producer: ProducerRequest | null
  readonly closing: boolean
  readonly streamSeq: string | undefined
  readonly contentType: string | undefined
  readonly body: Buffer
}

/**
 * Answers the append; false, with nothing answered or written, when it had to wait for the
 * stream's earlier writes and one of them failed (the caller runs it again).
 */
async function appendTo(
  store: StreamStore,
  stream: Stream,
  request: AppendRequest,
  res: ServerResponse,
): Promise<boolean> {
  const { producer, closing, streamSeq, contentType, body } = request
  // A producer's request, or one with a Stream-Seq, is checked against that sequence's last
  // write only once it has committed (Stream.writeInFlight); if it failed, the stream is stale.
  const ordered = orderingKeys(producer, streamSeq)
  for (let write = stream.writeInFlight(ordered); write !== undefined; write = stream.writeInFlight(ordered)) {
    await write
    if (stream.stale) return false
  }
  // From here to the append call nothing awaits: validation and the offsets it hands out follow arrival order.
  const { record } = stream
  if (record.closed || stream.closing) {
    const closer = record.closedBy
    const sameCloser =
      producer !== null &&
      closer !== null &&
      closer.id === producer.id &&
      closer.epoch === producer.epoch &&
      closer.seq === producer.seq
    if (sameCloser || (closing && body.length === 0)) {
      await stream.settled()
      if (stream.stale) return false
      send(res, 204, {
        ...tailHeaders(store, stream),
        ...(producer === null ? {} : producerEcho(producer.epoch, producer.seq)),
      })
      return true
    }
    throw new HttpError(409, 'the stream is closed', tailHeaders(store, stream))
  }
  if (body.length === 0 && !closing) throw new HttpError(400, 'an append needs a body')
  if (body.length > 0) {
    if (contentType === undefined || contentType.trim() === '')
      throw new HttpError(400, 'an append needs a Content-Type')
    if (mediaType(contentType) !== mediaType(stream.config.contentType)) {
      throw new HttpError(409, `the stream's content type is ${stream.config.contentType}`)
    }
  }
  let verdict: ProducerVerdict | null = null
  if (producer !== null) {
    verdict = acceptProducer(store.producerState(stream, producer.id), producer)
    if (verdict.kind !== 'accept') {
      if (verdict.kind === 'duplicate') {
        // A duplicate is answered once the original is committed, and not at all if it failed.
        await stream.settled()
        if (stream.stale) return false
      }
      send(res, verdict.status, {
        ...(verdict.kind === 'duplicate' ? tailHeaders(store, stream) : {}),
        ...verdict.headers,
      })
      return true
    }
  }
  const lastStreamSeq = stream.streamSeq
  if (streamSeq !== undefined && lastStreamSeq !== null && streamSeq <= lastStreamSeq) {
    throw new HttpError(409, `Stream-Seq ${streamSeq} is not after ${lastStreamSeq}`)
  }
  stream.lastAccessMs = Date.now()
  const items = body.length === 0 ? [] : itemsOf(stream.config, body, stream.nextTx, false)
  if (items.length > 0) stream.nextTx++
  const accepted = producer === null ? null : { id: producer.id, state: { epoch: producer.epoch, seq: producer.seq } }
  stream.accept(accepted, streamSeq)
  if (closing) {
    stream.closing = true
    record.closedBy = producer
  }
  // A close is visible to readers only after the appends accepted before it have committed.
  const earlier = stream.settled()
  await stream.track(
    (async () => {
      // Every request error was found above; a failure here is the store's. The stream's memory
      // (offsets and producers handed out) no longer matches the disk: it is reloaded (forget).
      try {
        if (items.length > 0) await store.append(stream, items)
        stream.commit(accepted, streamSeq)
        if (accepted !== null) await store.saveProducer(stream, accepted)
        // The record changes only with Stream-Seq or closure: other appends write the log alone.
        if (closing) {
          await earlier
          // Durable before any reader is told: a closure readers saw must survive a crash.
          stream.closureSaving = true
          await store.save(stream)
          record.closed = true
          stream.end()
        } else if (streamSeq !== undefined) await store.save(stream)
      } catch (error) {
        store.forget(stream, error)
      }
    })(),
    ordered,
  )
  const headers: Headers = tailHeaders(store, stream)
  if (producer === null) send(res, 204, headers)
  // New data is 200; a close-only request is 204 either way.
  else send(res, items.length === 0 ? 204 : 200, { ...headers, ...producerEcho(producer.epoch, producer.seq) })
  return true
}

/** DELETE (§5.4). */
export async function deleteStream(store: StreamStore, path: string, res: ServerResponse): Promise<void> {
  await store.exclusive(path, async () => {
    const stream = liveStream(store, path)
    await store.delete(stream)
    send(res, 204, {})
  })
}

/** What orders a request against earlier ones (Stream.writeInFlight): its producer, its Stream-Seq. */
function orderingKeys(producer: ProducerRequest | null, streamSeq: string | undefined): string[] {
  const keys: string[] = []
  if (producer !== null) keys.push(`producer ${producer.id}`)
  if (streamSeq !== undefined) keys.push('stream-seq')
  return keys
}

function producerEcho(epoch: number, seq: number): Headers {
  return { 'producer-epoch': epoch, 'producer-seq': seq }
}
