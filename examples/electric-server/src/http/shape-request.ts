import { LogOffset } from '@shapestore/engine'
import type { ShapeParams } from '../shapes/shape-spec.ts'

/**
 * `GET /v1/shape` query parameters, validated in the order Electric validates them
 * (SRV shapes/api/params.ex), with its messages. Unknown parameters (`log`, `expired_handle`,
 * `cache-buster`, anything else) are ignored.
 */
export interface ShapeRequest {
  readonly shape: ShapeParams
  readonly offset: LogOffset | 'now'
  /** Absent for offset -1 and now (Electric drops it there). */
  readonly handle: string | undefined
  readonly live: boolean
  readonly cursor: string | undefined
}

export type Errors = Record<string, string[]>

export function parseShapeRequest(query: URLSearchParams): ShapeRequest | { errors: Errors } {
  const errors: Errors = {}
  const add = (field: string, message: string) => {
    errors[field] = [...(errors[field] ?? []), message]
  }

  // Casts first (Ecto cast): booleans and enums.
  const live = parseBoolean(query.get('live'))
  if (live === null) add('live', 'is invalid')
  const replicaText = query.get('replica')
  const replica = replicaText === null ? 'default' : replicaText
  if (replica !== 'default' && replica !== 'full') add('replica', 'is invalid')
  const params = parseParams(query)
  if (typeof params === 'string') add('params', params)
  const offsetText = query.get('offset')
  if (offsetText === null || offsetText === '') add('offset', "can't be blank")
  if (Object.keys(errors).length > 0) return { errors }

  let offset: LogOffset | 'now'
  if (offsetText === 'now') {
    offset = 'now'
  } else {
    try {
      offset = LogOffset.parse(offsetText as string)
    } catch {
      return { errors: { offset: ['has invalid format'] } }
    }
  }
  const beforeAllOrNow = offset === 'now' || offset.isBeforeAll
  const handleText = query.get('handle')
  const handle = beforeAllOrNow || handleText === null || handleText === '' ? undefined : handleText
  if (!beforeAllOrNow && handle === undefined) return { errors: { handle: ["can't be blank when offset != -1"] } }
  if (live === true && offset === 'now') return { errors: { live: ["can't be true when offset is 'now'"] } }
  if (live === true && offset !== 'now' && offset.isBeforeAll) {
    return { errors: { live: ["can't be true when offset == -1"] } }
  }
  const table = query.get('table')
  if (table === null || table === '') return { errors: { table: ["can't be blank"] } }

  const where = query.get('where')
  const columns = query.get('columns')
  const cursor = query.get('cursor')
  return {
    shape: {
      table,
      where: where === null || where === '' ? undefined : where,
      columns: columns === null || columns === '' ? undefined : columns,
      replica: replica as 'default' | 'full',
      params: params as Map<number, string>,
    },
    offset,
    handle,
    live: live === true,
    cursor: cursor === null || cursor === '' ? undefined : cursor,
  }
}

/** Ecto's boolean cast: absent is false; true/false/1/0 (any case for the words). */
function parseBoolean(text: string | null): boolean | null {
  if (text === null) return false
  const lower = text.toLowerCase()
  if (lower === 'true' || lower === '1') return true
  if (lower === 'false' || lower === '0') return false
  return null
}

/** Where-clause parameters: `params[1]=a&params[2]=b`, or `params={"1":"a"}` as JSON; an error message otherwise. */
function parseParams(query: URLSearchParams): Map<number, string> | string {
  const params = new Map<number, string>()
  for (const [key, value] of query) {
    const match = /^params\[(\d{1,4})\]$/.exec(key)
    if (match !== null) params.set(Number(match[1]), value)
  }
  const json = query.get('params')
  if (json !== null) {
    let decoded: unknown
    try {
      decoded = JSON.parse(json)
    } catch {
      return 'params must be valid JSON'
    }
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return 'params must be a JSON object'
    for (const [key, value] of Object.entries(decoded)) {
      if (/^\d{1,4}$/.test(key)) params.set(Number(key), typeof value === 'string' ? value : JSON.stringify(value))
    }
  }
  return params
}
