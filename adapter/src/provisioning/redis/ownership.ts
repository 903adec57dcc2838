import { OwnershipError, ValidationError } from '../../errors.ts';
import { redisPasswordHash } from '../credentials.ts';
import type { ObservedRedis, RedisTenant } from './model.ts';

/**
 * The hash where the admin records which owner holds each ACL user (field:
 * the user, value: the owner). Tenants' key patterns are all `{namespace}:*`
 * and a namespace never contains `|`, so no tenant can read or write it.
 */
export const OWNERSHIP_KEY = 'tse-operator|owners';

/** True when a tenant confined to `namespace` could name `key` (its pattern is `{namespace}:*`). */
export function tenantPatternMatches(namespace: string, key: string): boolean {
  return key.startsWith(`${namespace}:`);
}

/**
 * Checks a reserved key against the rule that keeps it out of every tenant's
 * pattern: no `:` (every tenant pattern needs one after its namespace) and a
 * character no namespace may hold.
 */
export function assertReservedKey(key: string): string {
  if (key.includes(':') || !/[^A-Za-z0-9_.:-]/.test(key))
    throw new ValidationError(
      'reserved Redis key',
      key,
      'must contain no ":" and a character no namespace may use, so no tenant pattern can match it',
    );
  return key;
}

/** The value recorded for a tenant's owner. */
export function ownerOf(tenant: Pick<RedisTenant, 'owner'>): string {
  return tenant.owner ?? '-';
}

/** The namespaces `namespace` is under: each of its `:`-prefixes (`a:b:c` is under `a` and `a:b`). */
export function enclosingNamespaces(namespace: string): string[] {
  const enclosing: string[] = [];
  for (let at = namespace.indexOf(':'); at !== -1; at = namespace.indexOf(':', at + 1))
    enclosing.push(namespace.slice(0, at));
  return enclosing;
}

/** `text` as a Redis glob pattern matching only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Whether the tenant may have its user and namespace: `held` when the record
 * says they are this owner's, `claim` when nobody holds them yet. Refuses
 * (OwnershipError) a user or keys that exist and are someone else's; the
 * message says what exists and how to resolve it, never who holds it.
 */
export function ownershipOf(desired: RedisTenant, observed: ObservedRedis): 'held' | 'claim' {
  const owner = ownerOf(desired);
  if (observed.owner !== undefined) {
    if (observed.owner === owner) return 'held';
    throw new OwnershipError(
      `Redis ACL user "${desired.user}" and namespace "${desired.namespace}" are held by another owner (a live or retained instance); nothing was changed: choose another namespace (spec.redis.namespace) or have the Redis administrator release it`,
    );
  }
  if (observed.user && !provesOurs(desired, observed.user))
    throw new OwnershipError(
      `Redis ACL user "${desired.user}" exists but was not created for this instance; nothing was changed: choose another namespace (spec.redis.namespace) or have the Redis administrator remove the user`,
    );
  if ((observed.overlappingOwners ?? []).some((other) => other !== owner))
    throw new OwnershipError(
      `Redis namespace "${desired.namespace}" overlaps a namespace held by another owner (one is a ":"-prefix of the other); nothing was changed: choose another namespace (spec.redis.namespace)`,
    );
  if (observed.keysExist && !desired.adoptExistingKeys && !observed.user)
    throw new OwnershipError(
      `Redis keys under "${desired.namespace}:" already exist and were not written by this instance; nothing was changed: choose another namespace (spec.redis.namespace), remove the keys, or set spec.redis.adoptExistingKeys to take them over`,
    );
  return 'claim';
}

// A user that predates the ownership record is ours when it holds exactly the
// password from this instance's credentials: nobody else knows it.
function provesOurs(desired: RedisTenant, user: NonNullable<ObservedRedis['user']>): boolean {
  return (
    user.passwordHashes.length === 1 &&
    user.passwordHashes[0] === redisPasswordHash(desired.password)
  );
}

assertReservedKey(OWNERSHIP_KEY);
