// The engine's process: configuration from the environment (a bad value stops
// it with a message naming the variable), then serve until SIGTERM or SIGINT,
// drain, and exit 0.
import { ValidationError } from '@tse/adapter';
import { type EngineConfig, loadConfig } from './config.ts';
import { startEngine } from './engine.ts';

let config: EngineConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ValidationError)) throw error;
  console.error(`engine: invalid configuration: ${error.message}`);
  process.exit(2);
}

const engine = await startEngine(config);

const shutdown = (signal: string) => {
  engine.logger.info({ signal }, 'signal received');
  const deadline = setTimeout(() => {
    engine.logger.error(
      { timeout_ms: config.shutdownTimeoutMs },
      'shutdown took too long; exiting',
    );
    process.exit(1);
  }, config.shutdownTimeoutMs + 1000);
  deadline.unref();
  engine.stop().then(
    () => process.exit(0),
    (error) => {
      engine.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
