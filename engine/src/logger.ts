import pino, { type DestinationStream, type Logger } from 'pino';
import type { EngineConfig } from './config.ts';

/**
 * The engine's logger: JSON lines, each carrying the instance's identity so
 * that logs from many instances can be told apart.
 */
export function createLogger(config: EngineConfig, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: {
        service_name: config.identity.serviceName,
        instance_name: config.identity.instanceName,
        environment: config.environment,
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: ['req.headers.authorization', '*.password', '*.postgresUrl', '*.redisUrl'],
    },
    destination,
  );
}
