import type { ServerResponse } from 'node:http'
import { isValidHandle } from '@shapestore/engine'
import type { ShapeService } from '../shapes/shape-service.ts'
import { ShapeParamError } from '../shapes/shape-spec.ts'
import { send, sendError, sendInvalid } from './responses.ts'

/**
 * `DELETE /v1/shape`, as Electric's (when shape deletion is enabled): by definition (`table`,
 * `where`, … with an optional matching `handle`) or by `handle` alone. 202 once removed; the
 * shape's clients get a 409 and a new handle on their next request.
 */
export async function handleShapeDelete(res: ServerResponse, url: URL, shapes: ShapeService): Promise<void> {
  const query = url.searchParams
  const table = query.get('table')
  const handleParam = query.get('handle') || undefined
  let handle: string | undefined
  if (table === null || table === '') {
    if (handleParam === undefined) {
      return sendInvalid(res, { handle: ["can't be blank when shape definition is missing"] })
    }
    // Not a handle the engine could have issued (it would refuse it: INVALID_HANDLE, a 500): no such shape.
    handle = isValidHandle(handleParam) && shapes.specOf(handleParam) !== undefined ? handleParam : undefined
  } else {
    try {
      const where = query.get('where') || undefined
      const columns = query.get('columns') || undefined
      const replica = query.get('replica') === 'full' ? 'full' : 'default'
      handle = shapes.handleOf(shapes.resolve({ table, where, columns, replica }))
    } catch (error) {
      if (error instanceof ShapeParamError) return sendInvalid(res, { [error.field]: [error.message] })
      throw error
    }
    if (handleParam !== undefined && handle !== handleParam) handle = undefined
  }
  if (handle === undefined || !(await shapes.remove(handle))) return sendError(res, 404, 'shape not found')
  send(res, 202, '', {})
}
