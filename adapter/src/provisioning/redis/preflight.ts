import { CLAIMED_KEY } from './claims.ts';
import { OWNERSHIP_KEY } from './ownership.ts';

/**
 * The commands provisioning sends as the admin, as `ACL DRYRUN` arguments:
 * those it sends itself, then those the claim scripts run (Redis checks
 * them as the script runs them).
 */
export const ADMIN_COMMANDS: readonly (readonly string[])[] = [
  ['ACL', 'GETUSER', 'probe'],
  ['ACL', 'SETUSER', 'probe'],
  ['ACL', 'DELUSER', 'probe'],
  ['CLIENT', 'KILL', 'USER', 'probe'],
  ['HGET', OWNERSHIP_KEY, 'probe'],
  ['HMGET', OWNERSHIP_KEY, 'probe'],
  ['HLEN', OWNERSHIP_KEY],
  ['HSCAN', OWNERSHIP_KEY, '0'],
  ['ZCARD', CLAIMED_KEY],
  ['ZRANGEBYLEX', CLAIMED_KEY, '-', '+'],
  ['EVAL', 'return 0', '2', OWNERSHIP_KEY, CLAIMED_KEY],
  ['SCAN', '0'],
  ['UNLINK', 'probe:key'],
  ['HKEYS', OWNERSHIP_KEY],
  ['HSET', OWNERSHIP_KEY, 'probe', 'owner'],
  ['HDEL', OWNERSHIP_KEY, 'probe'],
  ['DEL', CLAIMED_KEY],
  ['ZADD', CLAIMED_KEY, '0', 'probe'],
  ['ZREM', CLAIMED_KEY, 'probe'],
];

/**
 * The admin commands a server refused, named as people write them (`ACL
 * SETUSER`, `SCAN`), from each command's `ACL DRYRUN` verdict. Empty when
 * all are allowed.
 */
export function missingRedisCapabilities(verdicts: Map<readonly string[], string>): string[] {
  const missing: string[] = [];
  for (const [command, verdict] of verdicts) {
    if (verdict === 'OK') continue;
    const [name, sub] = command;
    missing.push(name === 'ACL' || name === 'CLIENT' ? `${name} ${sub}` : String(name));
  }
  return missing;
}
