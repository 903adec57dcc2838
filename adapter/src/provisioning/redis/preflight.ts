import { OWNERSHIP_KEY } from './ownership.ts';

/** The commands provisioning sends as the admin, as `ACL DRYRUN` arguments. */
export const ADMIN_COMMANDS: readonly (readonly string[])[] = [
  ['ACL', 'GETUSER', 'probe'],
  ['ACL', 'SETUSER', 'probe'],
  ['ACL', 'DELUSER', 'probe'],
  ['CLIENT', 'KILL', 'USER', 'probe'],
  ['HGET', OWNERSHIP_KEY, 'probe'],
  ['HMGET', OWNERSHIP_KEY, 'probe'],
  ['HSCAN', OWNERSHIP_KEY, '0'],
  ['HSETNX', OWNERSHIP_KEY, 'probe', 'owner'],
  ['HDEL', OWNERSHIP_KEY, 'probe'],
  ['SCAN', '0'],
  ['UNLINK', 'probe:key'],
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
