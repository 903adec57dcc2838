// The engine's process: configuration from the environment (a bad value stops
// it with a message naming the variable), then serve until SIGTERM or SIGINT,
// drain, and exit 0. An engine that loses the instance lock it traded under
// drains and exits 1: restarted, it queues as a standby.
import { ValidationError } from '@tse/adapter';
import { type EngineConfig, loadConfig } from './config.ts';
import { type Engine, startEngine } from './engine.ts';

let config: EngineConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ValidationError)) throw error;
  console.error(`engine: invalid configuration: ${error.message}`);
  process.exit(2);
}

let engine: Engine | undefined;
engine = await startEngine(config, {
  onLockLost: (reason) => shutdown(`lost the instance lock: ${reason}`, 1),
});

function shutdown(why: string, code = 0): void {
  if (!engine) process.exit(code);
  if (code === 0) engine.logger.info({ signal: why }, 'signal received');
  else engine.logger.error({ reason: why }, 'shutting down');
  const deadline = setTimeout(() => {
    engine.logger.error(
      { timeout_ms: config.shutdownTimeoutMs },
      'shutdown took too long; exiting',
    );
    process.exit(1);
  }, config.shutdownTimeoutMs + 1000);
  deadline.unref();
  engine.stop().then(
    () => process.exit(code),
    (error) => {
      engine.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
