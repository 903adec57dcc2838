import { redisPasswordHash } from '../credentials.ts';
import {
  namespacePatterns,
  type ObservedRedis,
  type RedisAction,
  type RedisTenant,
} from './model.ts';

/**
 * The ACL steps that take Redis from what it has to what the instance needs.
 * `canonicalCommands` is how this server spells TENANT_COMMAND_RULES back in
 * `ACL GETUSER`, so a converged user plans nothing. Pure.
 */
export function planRedis(
  desired: RedisTenant,
  observed: ObservedRedis,
  canonicalCommands: string,
): RedisAction[] {
  const reason = driftOf(desired, observed, canonicalCommands);
  if (!reason) return [];
  const actions: RedisAction[] = [{ type: 'setUser', reason }];
  if (observed.user?.enabled && !desired.enabled) actions.push({ type: 'killClients' });
  return actions;
}

/** The steps that remove the instance's user and its keys, nothing else. */
export function planRedisRemoval(observed: ObservedRedis): RedisAction[] {
  return observed.user
    ? [{ type: 'deleteUser' }, { type: 'deleteKeys' }]
    : [{ type: 'deleteKeys' }];
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
