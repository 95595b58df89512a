export {
  LONG_POLL_TIMEOUT_MS_DEFAULT,
  type StreamsServer,
  type StreamsServerOptions,
  startStreamsServer,
} from './server.ts'
