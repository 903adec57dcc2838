import { ClaimConflictError } from '../../errors.ts';
import type { RedisTenant } from './model.ts';
import { assertReservedKey, OWNERSHIP_KEY, ownerOf } from './ownership.ts';

/**
 * The users the ownership record holds, in a sorted set (all scores 0), so
 * the namespaces under one are a `ZRANGEBYLEX` range instead of a walk of
 * the whole record. Written only together with the record, by the scripts
 * below; reserved like the record, so no tenant can reach it.
 */
export const CLAIMED_KEY = assertReservedKey('tse-operator|claimed');

/**
 * Checks and claims in one step (Redis runs a script alone): the user is
 * taken only when nobody holds it and no other owner holds a namespace
 * above it (read by name) or under it (a range of the index). Nothing can
 * come between the check and the claim, and a run cut off anywhere leaves
 * either no claim or a checked one. The index is rebuilt from the record
 * when asked (a provisioner's first claim) and whenever their sizes differ
 * (a record written by an earlier version, or edited by hand).
 *
 * KEYS: the record, the index. ARGV: the user (its namespace), the owner,
 * `rebuild` or `trust`. Returns `{'claimed'}`, `{'held', holder}` or
 * `{'overlap'}`.
 */
export const CLAIM_SCRIPT = `
local record, index, user, owner = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if ARGV[3] == 'rebuild' or redis.call('ZCARD', index) ~= redis.call('HLEN', record) then
  redis.call('DEL', index)
  local users = redis.call('HKEYS', record)
  for first = 1, #users, 500 do
    local batch = {}
    for i = first, math.min(first + 499, #users) do
      batch[#batch + 1] = 0
      batch[#batch + 1] = users[i]
    end
    redis.call('ZADD', index, unpack(batch))
  end
end
local holder = redis.call('HGET', record, user)
if holder then return {'held', holder} end
local at = string.find(user, ':', 1, true)
while at do
  local above = redis.call('HGET', record, string.sub(user, 1, at - 1))
  if above and above ~= owner then return {'overlap'} end
  at = string.find(user, ':', at + 1, true)
end
for _, below in ipairs(redis.call('ZRANGEBYLEX', index, '[' .. user .. ':', '(' .. user .. ';')) do
  local other = redis.call('HGET', record, below)
  if other and other ~= owner then return {'overlap'} end
end
redis.call('HSET', record, user, owner)
redis.call('ZADD', index, 0, user)
return {'claimed'}
`;

/**
 * Releases the user from the record and the index, unless another owner
 * holds it. KEYS: the record, the index. ARGV: the user, the owner.
 */
export const RELEASE_SCRIPT = `
local holder = redis.call('HGET', KEYS[1], ARGV[1])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** The `EVAL` that runs `script` for the tenant's user and owner. */
export function claimCommand(
  script: string,
  tenant: Pick<RedisTenant, 'user' | 'owner'>,
): string[] {
  return ['EVAL', script, '2', OWNERSHIP_KEY, CLAIMED_KEY, tenant.user, ownerOf(tenant)];
}

/** The range of the index holding the users under `namespace` (`ns:` up to, not including, `ns;`). */
export function usersUnder(namespace: string): [string, string] {
  return [`[${namespace}:`, `(${namespace};`];
}

/**
 * What the claim script's reply means for the tenant: nothing when the
 * claim is its own (made now, or by an earlier run cut off after it);
 * ClaimConflictError when another owner got there first, between this
 * run's look and its claim.
 */
export function assertClaimed(reply: unknown, tenant: RedisTenant): void {
  const [outcome, holder] = (Array.isArray(reply) ? reply : []).map(String);
  if (outcome === 'claimed' || (outcome === 'held' && holder === ownerOf(tenant))) return;
  if (outcome === 'held')
    throw new ClaimConflictError(
      `Redis ACL user "${tenant.user}" was claimed by another owner at the same moment; nothing was changed`,
    );
  if (outcome === 'overlap')
    throw new ClaimConflictError(
      `Redis namespace "${tenant.namespace}" overlaps a namespace another owner claimed at the same moment (one is a ":"-prefix of the other); nothing was changed, and it is tried again`,
    );
  throw new Error(`unexpected reply from the Redis claim script: ${JSON.stringify(reply)}`);
}
