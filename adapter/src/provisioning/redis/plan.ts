import { redisPasswordHash } from '../credentials.ts';
import {
  namespacePatterns,
  type ObservedRedis,
  type RedisAction,
  type RedisTenant,
} from './model.ts';
import { ownershipOf } from './ownership.ts';

/**
 * The ACL steps that take Redis from what it has to what the instance needs.
 * `canonicalCommands` is how this server spells TENANT_COMMAND_RULES back in
 * `ACL GETUSER`, so a converged user plans nothing. Pure. The ownership
 * record is claimed before the user is touched, so a run cut off between
 * the two resumes as the owner; a user or namespace that is someone else's
 * is refused (OwnershipError) before anything changes.
 */
export function planRedis(
  desired: RedisTenant,
  observed: ObservedRedis,
  canonicalCommands: string,
): RedisAction[] {
  const actions: RedisAction[] =
    ownershipOf(desired, observed) === 'claim' ? [{ type: 'claim' }] : [];
  const reason = driftOf(desired, observed, canonicalCommands);
  if (!reason) return actions;
  actions.push({ type: 'setUser', reason });
  if (observed.user?.enabled && !desired.enabled) actions.push({ type: 'killClients' });
  return actions;
}

/**
 * The steps that remove the instance's user and its keys, nothing else:
 * only what the ownership record (or, before it existed, the user's
 * password) says is this owner's; the record goes last.
 */
export function planRedisRemoval(desired: RedisTenant, observed: ObservedRedis): RedisAction[] {
  if (observed.owner === undefined && !observed.user && !observed.keysExist) return [];
  ownershipOf({ ...desired, adoptExistingKeys: false }, observed);
  const actions: RedisAction[] = observed.user ? [{ type: 'deleteUser' }] : [];
  actions.push({ type: 'deleteKeys' });
  if (observed.owner !== undefined) actions.push({ type: 'release' });
  return actions;
}

function driftOf(
  desired: RedisTenant,
  observed: ObservedRedis,
  canonicalCommands: string,
): string | undefined {
  const { user } = observed;
  if (!user) return 'user missing';
  const { keys, channels } = namespacePatterns(desired.namespace);
  if (user.enabled !== desired.enabled) return desired.enabled ? 'user disabled' : 'user enabled';
  const hash = redisPasswordHash(desired.password);
  if (user.passwordHashes.length !== 1 || user.passwordHashes[0] !== hash)
    return 'password differs';
  if (user.keys !== keys) return `key patterns differ (${user.keys || 'none'})`;
  if (user.channels !== channels) return `channel patterns differ (${user.channels || 'none'})`;
  if (user.selectors > 0) return 'extra selectors';
  if (user.commands !== canonicalCommands) return 'command rules differ';
  return undefined;
}
