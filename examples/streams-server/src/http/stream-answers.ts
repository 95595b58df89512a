import { formatOffset } from '../stream-offset.ts'
import type { Stream, StreamStore } from '../stream-store.ts'
import { type Headers, HttpError } from './respond.ts'

/** The stream at `path`, or the 404 / 410 a request on it gets. */
export function liveStream(store: StreamStore, path: string): Stream {
  const stream = store.get(path)
  if (stream === undefined) throw new HttpError(404, `no stream at ${path}`)
  if (stream.record.softDeleted) throw new HttpError(410, `the stream at ${path} was deleted`)
  return stream
}

/** Content type, tail and closure: what creation and HEAD answer. */
export function streamHeaders(store: StreamStore, stream: Stream): Headers {
  return { 'content-type': stream.config.contentType, ...tailHeaders(store, stream) }
}

export function tailHeaders(store: StreamStore, stream: Stream): Headers {
  const headers: Headers = { 'stream-next-offset': formatOffset(store.tail(stream)) }
  if (stream.record.closed) headers['stream-closed'] = 'true'
  return headers
}
