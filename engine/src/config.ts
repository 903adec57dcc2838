import {
  DEFAULT_SERVICE_NAME,
  deriveIdentityAs,
  ENGINE_ENV,
  ENGINE_PORTS,
  ENVIRONMENTS,
  type Environment,
  type Identity,
  parseEnvironment,
  postgresTls,
  readCaFile,
  redisTls,
  type StoreTls,
  ValidationError,
} from '@tse/adapter';
import { z } from 'zod';

/** pino's levels, plus the Python names the original services used. */
const LOG_LEVELS = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
} as const;
export type LogLevel = (typeof LOG_LEVELS)[keyof typeof LOG_LEVELS];

/** Everything the engine is told by its environment, validated once at start. */
export interface EngineConfig {
  identity: Identity;
  environment: Environment;
  logLevel: LogLevel;
  version: string;
  httpPort: number;
  grpcPort: number;
  /** Health and /metrics, unauthenticated, apart from the trading API. */
  managementPort: number;
  /** The trading grant's bearer token (API_TOKEN); undefined runs the API open (never in production or kubernetes). */
  apiToken: string | undefined;
  /** The read-only grant's bearer token (API_READ_TOKEN). */
  apiReadToken: string | undefined;
  /** Requests and RPCs per second each client (address and grant) may make; 0 turns the limit off. */
  rateLimitPerSecond: number;
  /** Order event streams (gRPC) open at once; one more is refused. */
  maxEventStreams: number;
  postgresUrl: string | undefined;
  redisUrl: string | undefined;
  /** TLS to each store: PostgreSQL's from its URL (sslmode, sslrootcert), Redis' from rediss:// and REDIS_CA_FILE. */
  postgresTls: StoreTls;
  redisTls: StoreTls;
  /** How long SIGTERM may take before the process gives up waiting (ms). */
  shutdownTimeoutMs: number;
  /** Instance-wide risk limits (MAX_POSITION_SIZE, MAX_DAILY_LOSS); unset means none. */
  limits: { maxPositionSize: string | null; maxDailyLoss: string | null };
}

const PORT_RULE = 'must be a whole number from 0 to 65535 (0 picks a free port)';
const port = () =>
  z.coerce
    .number({ error: PORT_RULE })
    .int({ error: PORT_RULE })
    .min(0, { error: PORT_RULE })
    .max(65535, { error: PORT_RULE });

/** The shortest token accepted: 32 characters (e.g. `openssl rand -hex 32` gives 64). */
export const MIN_TOKEN_LENGTH = 32;
const TOKEN_RULE = `must be at least ${MIN_TOKEN_LENGTH} characters`;
const token = () => z.string().min(MIN_TOKEN_LENGTH, { error: TOKEN_RULE }).optional();

/** The environments where an engine without API_TOKEN refuses to start. */
export const TOKEN_REQUIRED_IN: readonly Environment[] = ['production', 'kubernetes'];

/** Per-client rate limit by default: requests (HTTP) and calls (gRPC) per second. */
export const DEFAULT_RATE_LIMIT_PER_SECOND = 100;
/** Order event streams open at once by default. */
export const DEFAULT_MAX_EVENT_STREAMS = 64;

const schema = z.object({
  [ENGINE_ENV.serviceName]: z.string().optional(),
  [ENGINE_ENV.instanceName]: z.string().optional(),
  [ENGINE_ENV.postgresSchema]: z.string().optional(),
  [ENGINE_ENV.redisNamespace]: z.string().optional(),
  [ENGINE_ENV.environment]: z
    .enum(ENVIRONMENTS, { error: `must be one of ${ENVIRONMENTS.join(', ')}` })
    .default('development'),
  [ENGINE_ENV.logLevel]: z
    .string()
    .default('info')
    .transform((value) => value.toLowerCase())
    .pipe(
      z.enum(Object.keys(LOG_LEVELS) as [keyof typeof LOG_LEVELS], {
        error: `must be one of ${Object.keys(LOG_LEVELS).join(', ')} (any case)`,
      }),
    ),
  [ENGINE_ENV.version]: z.string().min(1).default('0.1.0'),
  [ENGINE_ENV.httpPort]: port().default(ENGINE_PORTS.http),
  [ENGINE_ENV.grpcPort]: port().default(ENGINE_PORTS.grpc),
  [ENGINE_ENV.managementPort]: port().default(ENGINE_PORTS.management),
  [ENGINE_ENV.apiToken]: token(),
  [ENGINE_ENV.apiReadToken]: token(),
  RATE_LIMIT_PER_SECOND: z.coerce
    .number()
    .int()
    .min(0, { error: 'must be a whole number, 0 for no limit' })
    .default(DEFAULT_RATE_LIMIT_PER_SECOND),
  MAX_EVENT_STREAMS: z.coerce.number().int().min(1).default(DEFAULT_MAX_EVENT_STREAMS),
  [ENGINE_ENV.postgresUrl]: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
    .optional(),
  [ENGINE_ENV.redisUrl]: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  [ENGINE_ENV.redisCaFile]: z.string().optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  [ENGINE_ENV.maxPositionSize]: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a positive decimal')
    .optional(),
  [ENGINE_ENV.maxDailyLoss]: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a positive decimal')
    .optional(),
});

/** Maps the adapter's identity fields to the variables that set them. */
const IDENTITY_VARIABLES = {
  serviceName: ENGINE_ENV.serviceName,
  instanceName: ENGINE_ENV.instanceName,
  postgresSchema: ENGINE_ENV.postgresSchema,
  redisNamespace: ENGINE_ENV.redisNamespace,
} as const;

/**
 * Reads and validates the engine's configuration from an environment.
 * Throws a ValidationError naming the variable, the value and the rule.
 * Empty values count as unset.
 */
export function loadConfig(env: NodeJS.ProcessEnv): EngineConfig {
  const values = parseEnvironment(schema, env);
  const environment = values[ENGINE_ENV.environment];
  const apiToken = values[ENGINE_ENV.apiToken];
  const apiReadToken = values[ENGINE_ENV.apiReadToken];
  if (!apiToken && TOKEN_REQUIRED_IN.includes(environment))
    throw new ValidationError(
      ENGINE_ENV.apiToken,
      '',
      `must be set when ${ENGINE_ENV.environment} is ${environment}: an engine there never serves its trading API unauthenticated`,
    );
  if (apiReadToken && !apiToken)
    throw new ValidationError(
      ENGINE_ENV.apiReadToken,
      '***',
      `needs ${ENGINE_ENV.apiToken} as well: a read-only token alone would leave writes open`,
    );
  if (apiReadToken && apiReadToken === apiToken)
    throw new ValidationError(
      ENGINE_ENV.apiReadToken,
      '***',
      `must differ from ${ENGINE_ENV.apiToken}: the same token cannot be both grants`,
    );
  const redisCaFile = values[ENGINE_ENV.redisCaFile];
  const redisCa = redisCaFile ? readCaFile(redisCaFile, ENGINE_ENV.redisCaFile) : undefined;
  const identity = deriveIdentityAs(
    {
      serviceName: values[ENGINE_ENV.serviceName] ?? DEFAULT_SERVICE_NAME,
      instanceName: values[ENGINE_ENV.instanceName],
      postgresSchema: values[ENGINE_ENV.postgresSchema],
      redisNamespace: values[ENGINE_ENV.redisNamespace],
    },
    IDENTITY_VARIABLES,
  );
  return Object.freeze({
    identity: Object.freeze(identity),
    environment,
    logLevel: LOG_LEVELS[values[ENGINE_ENV.logLevel]],
    version: values[ENGINE_ENV.version],
    httpPort: values[ENGINE_ENV.httpPort],
    grpcPort: values[ENGINE_ENV.grpcPort],
    managementPort: values[ENGINE_ENV.managementPort],
    apiToken,
    apiReadToken,
    rateLimitPerSecond: values.RATE_LIMIT_PER_SECOND,
    maxEventStreams: values.MAX_EVENT_STREAMS,
    postgresUrl: values[ENGINE_ENV.postgresUrl],
    redisUrl: values[ENGINE_ENV.redisUrl],
    postgresTls: storeTls(postgresTls, values[ENGINE_ENV.postgresUrl], ENGINE_ENV.postgresUrl),
    redisTls: storeTls(redisTls, values[ENGINE_ENV.redisUrl], ENGINE_ENV.redisUrl, redisCa),
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
    limits: Object.freeze({
      maxPositionSize: values[ENGINE_ENV.maxPositionSize] ?? null,
      maxDailyLoss: values[ENGINE_ENV.maxDailyLoss] ?? null,
    }),
  });
}

/** A store's TLS from its URL; plaintext when there is no URL (the in-memory store). */
function storeTls(
  read: (url: string, field: string, ca?: string) => StoreTls,
  url: string | undefined,
  field: string,
  ca?: string,
): StoreTls {
  return url ? read(url, field, ca) : { mode: 'disable' };
}
