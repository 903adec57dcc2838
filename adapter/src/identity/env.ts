/**
 * The environment variables that carry an engine's configuration and identity
 * from the operator (which writes them into the pod template) to the engine
 * (which reads them). Defined once, here, and used by both.
 */
export const ENGINE_ENV = {
  serviceName: 'SERVICE_NAME',
  instanceName: 'SERVICE_INSTANCE_NAME',
  environment: 'ENVIRONMENT',
  logLevel: 'LOG_LEVEL',
  version: 'VERSION',
  httpPort: 'HTTP_PORT',
  grpcPort: 'GRPC_PORT',
  /** Health and /metrics, never authenticated; kept apart from the trading API's port. */
  managementPort: 'MANAGEMENT_PORT',
  /** Bearer token of the trading grant: every route and RPC. */
  apiToken: 'API_TOKEN',
  /** Bearer token of the read-only grant: GET routes and read RPCs. */
  apiReadToken: 'API_READ_TOKEN',
  postgresUrl: 'POSTGRES_URL',
  redisUrl: 'REDIS_URL',
  redisCaFile: 'REDIS_CA_FILE',
  postgresSchema: 'POSTGRES_SCHEMA',
  redisNamespace: 'REDIS_NAMESPACE',
  maxPositionSize: 'MAX_POSITION_SIZE',
  maxDailyLoss: 'MAX_DAILY_LOSS',
} as const;

/** The engine's default ports, shared by the engine, the operator's Service and probes. */
export const ENGINE_PORTS = { http: 8083, grpc: 50053, management: 8084 } as const;

/** The environments an engine may declare. */
export const ENVIRONMENTS = [
  'development',
  'testing',
  'production',
  'docker',
  'kubernetes',
] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
