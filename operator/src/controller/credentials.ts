import type { V1Secret } from '@kubernetes/client-node';
import { generatePassword, generateToken, type Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { credentialsSecretName } from '../builders/metadata.ts';
import {
  buildCredentialsSecret,
  SECRET_KEYS,
  type StoreLogin,
  secretValue,
} from '../builders/secret.ts';
import type { AdminTarget } from './admin.ts';
import { type OwnedObjects, RecentWrites } from './apply.ts';
import type { ReconcilerDependencies } from './context.ts';

/**
 * The instance's credentials Secret, as it is once written: generated passwords and tokens are kept; URLs
 * follow the spec. Written before any store is touched.
 *
 * The rule for generating: a password or token is generated only when the
 * Secret has no value for it. A Secret missing from the cache is not proof
 * that it is missing (the cache may not have caught up, or may not list it:
 * it holds only labelled objects), so it is read from the API server first,
 * as is one the cache holds without its data; only a 404 there lets new
 * credentials be generated. Removing a key from an existing Secret rotates
 * that one credential.
 */
export async function ensureCredentials(
  deps: ReconcilerDependencies,
  owned: OwnedObjects,
  instance: TradingEngineInstance,
  identity: Identity,
  admin: { postgres: AdminTarget; redis: AdminTarget },
): Promise<V1Secret> {
  const { namespace } = instance.metadata;
  const name = credentialsSecretName(instance);
  const reference = { apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name } };
  // What was written a moment ago counts before the cache has it: a value generated then is not generated again.
  const cached = owned.written.fresher(
    RecentWrites.keyOf(reference),
    deps.caches.secrets.get(namespace, name),
    instance.metadata.uid,
  );
  // The cache keeps a Secret's data only when it is plainly ours (secretProjection): one it holds
  // without data is read whole, so its passwords are never taken for missing.
  const live = cached?.data !== undefined ? cached : await deps.writer.read<V1Secret>(reference);
  const postgresUrl = new URL(admin.postgres.url);
  const redisUrl = new URL(admin.redis.url);
  const [postgresHost, postgresPort] = hostPort(
    instance.spec.postgres.host,
    postgresUrl.hostname,
    Number(postgresUrl.port || 5432),
  );
  const [redisHost, redisPort] = hostPort(
    instance.spec.redis.host,
    redisUrl.hostname,
    Number(redisUrl.port || 6379),
  );
  const postgres: StoreLogin = {
    host: postgresHost,
    port: postgresPort,
    user: identity.postgresSchema,
    password: secretValue(live, SECRET_KEYS.postgresPassword) || generatePassword(),
    database: postgresUrl.pathname.slice(1) || 'postgres',
    tls: admin.postgres.tls,
  };
  const redis: StoreLogin = {
    host: redisHost,
    port: redisPort,
    user: identity.redisNamespace,
    password: secretValue(live, SECRET_KEYS.redisPassword) || generatePassword(),
    tls: admin.redis.tls,
  };
  // Kept like the passwords: removing one from the Secret rotates it (and rolls the pods).
  const api = {
    trade: secretValue(live, SECRET_KEYS.apiToken) || generateToken(),
    read: secretValue(live, SECRET_KEYS.apiReadToken) || generateToken(),
  };
  // Built from `live`: a Secret that appears meanwhile is not written over (its passwords stay).
  return owned.ensure(buildCredentialsSecret(instance, postgres, redis, api), live, {
    builtFromLive: true,
  });
}

function hostPort(override: string | undefined, host: string, port: number): [string, number] {
  if (!override) return [host, port];
  const at = override.lastIndexOf(':');
  return at === -1 ? [override, port] : [override.slice(0, at), Number(override.slice(at + 1))];
}
