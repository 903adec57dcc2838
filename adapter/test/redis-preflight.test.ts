import { describe, expect, it } from 'vitest';
import { ADMIN_COMMANDS, missingRedisCapabilities } from '../src/provisioning/index.ts';

describe('missingRedisCapabilities', () => {
  it('names nothing when every command is allowed', () => {
    expect(missingRedisCapabilities(new Map(ADMIN_COMMANDS.map((c) => [c, 'OK'])))).toEqual([]);
  });

  it('names each refused command as people write it', () => {
    const verdicts = new Map(
      ADMIN_COMMANDS.map((command) => [
        command,
        ['SETUSER', 'KILL'].includes(command[1] ?? '') || command[0] === 'SCAN'
          ? "This user has no permissions to run the 'x' command"
          : 'OK',
      ]),
    );
    expect(missingRedisCapabilities(verdicts)).toEqual(['ACL SETUSER', 'CLIENT KILL', 'SCAN']);
  });
});
