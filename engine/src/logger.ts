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
      // Tokens never reach a log line: not from a request's headers, not from the configuration.
      redact: [
        'req.headers.authorization',
        'headers.authorization',
        '*.headers.authorization',
        'authorization',
        '*.authorization',
        '*.password',
        '*.postgresUrl',
        '*.redisUrl',
        'apiToken',
        'apiReadToken',
        '*.apiToken',
        '*.apiReadToken',
      ],
    },
    destination,
  );
}
