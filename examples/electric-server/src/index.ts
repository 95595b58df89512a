export {
  LONG_POLL_TIMEOUT_MS_DEFAULT,
  LONG_POLL_TIMEOUT_MS_MAX,
  type ShapeServer,
  type ShapeServerOptions,
  startShapeServer,
} from './server.ts'
