export {
  LONG_POLL_TIMEOUT_MS_DEFAULT,
  PARTITIONS_DEFAULT,
  type StreamsServer,
  type StreamsServerOptions,
  startStreamsServer,
  WRITERS_DEFAULT,
} from './server.ts'
