import type { Identity } from '../identity/derive.ts';
import type { PostgresTenant } from './postgres/model.ts';
import type { RedisTenant } from './redis/model.ts';

/**
 * Called with what is about to change right before a provisioner sends it
 * (each statement of a transaction and its COMMIT, each Redis command that
 * writes); throws a `FencedError` to stop it. An operator replica uses it to
 * send nothing once it no longer leads.
 */
export type WriteFence = (what: string) => void;

/** The default connection limit of an instance's PostgreSQL role. */
export const DEFAULT_CONNECTION_LIMIT = 20;

/** The PostgreSQL tenant an identity asks for: the role is named after the schema it owns. */
export function postgresTenant(
  identity: Pick<Identity, 'postgresSchema'>,
  options: {
    password: string;
    database: string;
    connectionLimit?: number;
    login?: boolean;
    owner?: string;
  },
): PostgresTenant {
  return {
    ...(options.owner && { owner: options.owner }),
    role: identity.postgresSchema,
    schema: identity.postgresSchema,
    database: options.database,
    password: options.password,
    connectionLimit: options.connectionLimit ?? DEFAULT_CONNECTION_LIMIT,
    login: options.login ?? true,
  };
}

/** The Redis tenant an identity asks for: the ACL user is named after its namespace. */
export function redisTenant(
  identity: Pick<Identity, 'redisNamespace'>,
  options: { password: string; enabled?: boolean; owner?: string; adoptExistingKeys?: boolean },
): RedisTenant {
  return {
    ...(options.owner && { owner: options.owner }),
    ...(options.adoptExistingKeys && { adoptExistingKeys: true }),
    user: identity.redisNamespace,
    namespace: identity.redisNamespace,
    password: options.password,
    enabled: options.enabled ?? true,
  };
}
