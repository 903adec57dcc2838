// The operator's process: configuration from the environment (a bad value
// stops it naming the variable), then reconcile until SIGTERM or SIGINT.
import { ValidationError } from '@tse/adapter';
import pino from 'pino';
import { loadConfig, type OperatorConfig } from './config.ts';
import { startOperator } from './manager.ts';
import { KubeconfigError } from './runtime/kubeconfig.ts';

let config: OperatorConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ValidationError)) throw error;
  console.error(`operator: invalid configuration: ${error.message}`);
  process.exit(2);
}

const log = pino({
  level: config.logLevel,
  base: { component: 'trading-engine-operator', identity: config.identity },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});
log.info(
  {
    namespaces: config.watchNamespaces.length ? config.watchNamespaces : 'all',
    leader_election: config.leaderElection,
    metrics_port: config.metricsPort,
    postgres_admin: config.postgresAdminUrl ? 'configured' : 'none (instances must name a Secret)',
    redis_admin: config.redisAdminUrl ? 'configured' : 'none (instances must name a Secret)',
  },
  'operator starting',
);

const operator = await startOperator(config, log, (reason) => {
  log.fatal({ reason }, 'exiting');
  process.exit(1);
}).catch((error: unknown) => {
  // A kubeconfig that cannot be used is configuration too: say so, no stack trace.
  if (!(error instanceof KubeconfigError)) throw error;
  log.fatal({ reason: error.message }, 'invalid configuration');
  process.exit(2);
});

const shutdown = async (signal: string) => {
  log.info({ signal }, 'stopping: finishing running reconciles');
  // Past the drain and the lease's release, something hangs: leave before the kubelet kills.
  const deadline = setTimeout(() => process.exit(1), config.shutdownDrainMs + 10_000);
  deadline.unref();
  await operator.stop();
  log.info('stopped');
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
