import { hostname } from 'node:os';
import { parseEnvironment, postgresTls, redisTls, ValidationError } from '@tse/adapter';
import { z } from 'zod';
import { checkTiming, type LeaderElectionTiming } from './runtime/leader.ts';

/** The operator's settings, from its environment, validated once at start. */
export interface OperatorConfig {
  kubeconfig: string | undefined;
  postgresAdminUrl: string | undefined;
  redisAdminUrl: string | undefined;
  /** PEM CA bundles that sign the default stores' server certificates. */
  postgresAdminCa: string | undefined;
  redisAdminCa: string | undefined;
  /** Revoke CONNECT and TEMPORARY from PUBLIC on the PostgreSQL server's other databases (else warn). */
  postgresRevokePublicConnect: boolean;
  /** Namespaces to watch; empty means all. */
  watchNamespaces: string[];
  concurrency: number;
  resyncSeconds: number;
  metricsPort: number;
  metricsHost: string;
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  /** Lease duration, renew deadline and retry period (client-go's meaning). */
  leaderElectionTiming: LeaderElectionTiming;
  /** How long a stopping leader lets running reconciles finish before it releases the lease. */
  shutdownDrainMs: number;
  engineImage: string;
  logLevel: string;
}

const schema = z.object({
  KUBECONFIG: z.string().optional(),
  POSTGRES_ADMIN_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
    .optional(),
  POSTGRES_REVOKE_PUBLIC_CONNECT: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false'),
  REDIS_ADMIN_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  POSTGRES_ADMIN_CA: z.string().optional(),
  REDIS_ADMIN_CA: z.string().optional(),
  WATCH_NAMESPACES: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((namespace) => namespace.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z
          .string()
          .regex(
            /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
            'must be a comma-separated list of namespace names',
          ),
      ),
    )
    // One watch per namespace: a name given twice would open two, and the later of two
    // deletes of the same object could drop it from the caches after it came back.
    .transform((namespaces) => [...new Set(namespaces)]),
  MAX_CONCURRENT_RECONCILES: z.coerce.number().int().min(1).max(256).default(8),
  RESYNC_PERIOD_SECONDS: z.coerce.number().int().min(5).default(300),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  METRICS_HOST: z.string().default('0.0.0.0'),
  LEADER_ELECTION: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  LEASE_NAMESPACE: z.string().optional(),
  POD_NAMESPACE: z.string().optional(),
  LEASE_NAME: z.string().default('trading-engine-operator'),
  POD_NAME: z.string().optional(),
  LEASE_DURATION_SECONDS: z.coerce.number().int().min(2).max(300).default(15),
  RENEW_DEADLINE_SECONDS: z.coerce.number().int().min(1).max(300).default(10),
  RETRY_PERIOD_SECONDS: z.coerce.number().int().min(1).max(60).default(2),
  // The chart's pod gets the default 30 s of grace: draining (15 s), releasing and exiting fit in it.
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().int().min(0).max(600).default(15),
  ENGINE_IMAGE: z.string().min(1).default('localhost/tse/trading-engine:0.1.0'),
  LOG_LEVEL: z
    .string()
    .default('info')
    .transform((value) => value.toLowerCase())
    .pipe(
      z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], {
        error: 'must be one of trace, debug, info, warn, error, fatal',
      }),
    ),
});

/** Reads the operator's configuration; a bad value throws a ValidationError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv): OperatorConfig {
  const values = parseEnvironment(schema, env);
  // Settings that contradict each other stop the operator here, not every reconcile.
  if (values.POSTGRES_ADMIN_URL)
    postgresTls(values.POSTGRES_ADMIN_URL, 'POSTGRES_ADMIN_URL', values.POSTGRES_ADMIN_CA);
  if (values.REDIS_ADMIN_URL)
    redisTls(values.REDIS_ADMIN_URL, 'REDIS_ADMIN_URL', values.REDIS_ADMIN_CA);
  const leaderElectionTiming = {
    leaseDurationMs: values.LEASE_DURATION_SECONDS * 1000,
    renewDeadlineMs: values.RENEW_DEADLINE_SECONDS * 1000,
    retryPeriodMs: values.RETRY_PERIOD_SECONDS * 1000,
  };
  const badTiming = checkTiming(leaderElectionTiming);
  if (badTiming)
    throw new ValidationError('RENEW_DEADLINE_SECONDS', values.RENEW_DEADLINE_SECONDS, badTiming);
  return Object.freeze({
    kubeconfig: values.KUBECONFIG,
    postgresAdminUrl: values.POSTGRES_ADMIN_URL,
    redisAdminUrl: values.REDIS_ADMIN_URL,
    postgresAdminCa: values.POSTGRES_ADMIN_CA,
    redisAdminCa: values.REDIS_ADMIN_CA,
    postgresRevokePublicConnect: values.POSTGRES_REVOKE_PUBLIC_CONNECT === 'true',
    watchNamespaces: values.WATCH_NAMESPACES,
    concurrency: values.MAX_CONCURRENT_RECONCILES,
    resyncSeconds: values.RESYNC_PERIOD_SECONDS,
    metricsPort: values.METRICS_PORT,
    metricsHost: values.METRICS_HOST,
    leaderElection: values.LEADER_ELECTION === 'true',
    leaseNamespace: values.LEASE_NAMESPACE ?? values.POD_NAMESPACE ?? 'default',
    leaseName: values.LEASE_NAME,
    identity: values.POD_NAME ?? `${hostname()}-${process.pid}`,
    leaderElectionTiming,
    shutdownDrainMs: values.SHUTDOWN_DRAIN_SECONDS * 1000,
    engineImage: values.ENGINE_IMAGE,
    logLevel: values.LOG_LEVEL,
  });
}
