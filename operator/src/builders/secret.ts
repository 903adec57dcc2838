import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { postgresTlsParameters, type StoreTls } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { credentialsSecretName, ownedMetadata } from './metadata.ts';

/** Where and as whom an engine reaches one store. */
export interface StoreLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  /** PostgreSQL only. */
  database?: string;
  /** How the admin connection reaches the store: the engine does the same. */
  tls?: StoreTls;
}

/** The keys of the credentials Secret. */
export const SECRET_KEYS = {
  postgresUrl: 'POSTGRES_URL',
  redisUrl: 'REDIS_URL',
  postgresUser: 'postgres-username',
  postgresPassword: 'postgres-password',
  redisUser: 'redis-username',
  redisPassword: 'redis-password',
  postgresCa: 'postgres-ca.crt',
  redisCa: 'redis-ca.crt',
  apiToken: 'api-token',
  apiReadToken: 'api-read-token',
} as const;

/** The engine's API credentials: the trading grant and the read-only one. */
export interface ApiTokens {
  trade: string;
  read: string;
}

/** Where the engine container finds the stores' CA bundles (keys of the credentials Secret). */
export const CA_MOUNT_PATH = '/var/run/secrets/trading.tse.io/tls';

/** The path of one CA bundle in the engine container. */
export function caFile(key: typeof SECRET_KEYS.postgresCa | typeof SECRET_KEYS.redisCa): string {
  return `${CA_MOUNT_PATH}/${key}`;
}

/**
 * The instance's own credentials: connection URLs the engine reads, the
 * generated passwords (the source of truth for provisioning), the CA
 * bundles the URLs' TLS settings point to, and the API tokens the engine
 * requires of its clients.
 */
export function buildCredentialsSecret(
  instance: TradingEngineInstance,
  postgres: StoreLogin,
  redis: StoreLogin,
  api: ApiTokens,
): V1Secret {
  const postgresUrl = new URL(
    `postgres://${postgres.host}:${postgres.port}/${encodeURIComponent(postgres.database ?? 'postgres')}`,
  );
  postgresUrl.username = encodeURIComponent(postgres.user);
  postgresUrl.password = encodeURIComponent(postgres.password);
  const postgresTls = postgres.tls ?? { mode: 'disable' };
  for (const [name, value] of Object.entries(
    postgresTlsParameters(postgresTls, caFile(SECRET_KEYS.postgresCa)),
  ))
    postgresUrl.searchParams.set(name, value);
  const redisTls = redis.tls ?? { mode: 'disable' };
  const redisScheme = redisTls.mode === 'disable' ? 'redis' : 'rediss';
  const redisUrl = new URL(`${redisScheme}://${redis.host}:${redis.port}`);
  redisUrl.username = encodeURIComponent(redis.user);
  redisUrl.password = encodeURIComponent(redis.password);
  const values: Record<string, string> = {
    [SECRET_KEYS.postgresUrl]: postgresUrl.toString(),
    [SECRET_KEYS.redisUrl]: redisUrl.toString(),
    [SECRET_KEYS.postgresUser]: postgres.user,
    [SECRET_KEYS.postgresPassword]: postgres.password,
    [SECRET_KEYS.redisUser]: redis.user,
    [SECRET_KEYS.redisPassword]: redis.password,
    [SECRET_KEYS.apiToken]: api.trade,
    [SECRET_KEYS.apiReadToken]: api.read,
    ...(postgresTls.ca && { [SECRET_KEYS.postgresCa]: postgresTls.ca }),
    ...(redisTls.ca && { [SECRET_KEYS.redisCa]: redisTls.ca }),
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(instance, credentialsSecretName(instance)),
    type: 'Opaque',
    data: Object.fromEntries(
      Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}

/** A digest of a Secret's data: in the pod template, it rolls the pods when credentials change. */
export function secretChecksum(secret: Pick<V1Secret, 'data'>): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(secret.data ?? {}).sort())
    hash.update(`${key}=${secret.data?.[key]}\n`);
  return hash.digest('hex');
}

/** The decoded value of one key of a Secret, if present. */
export function secretValue(
  secret: Pick<V1Secret, 'data'> | undefined,
  key: string,
): string | undefined {
  const encoded = secret?.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
}
