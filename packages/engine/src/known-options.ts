import { EngineError, ErrorCode } from './errors.ts'

/**
 * INVALID_OPTION unless `options` is an object whose keys are all in `known`: a misspelt option
 * would otherwise be ignored silently and its default used. `owner` names whose options they
 * are in the message ('' for openEngine's, 'workerRuntime', ...).
 */
export function assertKnownOptions(
  options: unknown,
  known: ReadonlySet<string>,
  owner = '',
): asserts options is object {
  const prefix = owner === '' ? '' : `${owner} `
  if (typeof options !== 'object' || options === null) {
    throw new EngineError(ErrorCode.INVALID_OPTION, `${prefix}options must be an object`)
  }
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new EngineError(ErrorCode.INVALID_OPTION, `unknown ${prefix}option ${JSON.stringify(key.slice(0, 64))}`)
    }
  }
}
