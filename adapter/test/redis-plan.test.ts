import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClaimConflictError, OwnershipError } from '../src/errors.ts';
import { checkNamespace } from '../src/identity/rules.ts';
import {
  assertClaimed,
  assertReservedKey,
  CLAIM_SCRIPT,
  CLAIMED_KEY,
  commandFor,
  enclosingNamespaces,
  escapeGlob,
  type ObservedRedis,
  OWNERSHIP_KEY,
  planRedis,
  planRedisRemoval,
  RELEASE_SCRIPT,
  type RedisTenant,
  redisPasswordHash,
  TENANT_COMMANDS,
  tenantPatternMatches,
  usersUnder,
} from '../src/provisioning/index.ts';

const CANONICAL = '-@all +@read -scan';
const tenant = (changes: Partial<RedisTenant> = {}): RedisTenant => ({
  user: 'trading_system:LH',
  namespace: 'trading_system:LH',
  password: 'secret',
  enabled: true,
  owner: 'team/lh',
  ...changes,
});
const converged = (changes: Partial<NonNullable<ObservedRedis['user']>> = {}): ObservedRedis => ({
  user: {
    enabled: true,
    passwordHashes: [redisPasswordHash('secret')],
    commands: CANONICAL,
    keys: '~trading_system:LH:*',
    channels: '&trading_system:LH:*',
    selectors: 0,
    ...changes,
  },
  owner: 'team/lh',
});

/** A user as earlier versions left it: no ownership record. */
const unrecorded = (changes: Partial<NonNullable<ObservedRedis['user']>> = {}): ObservedRedis => {
  const { owner: _, ...observed } = converged(changes);
  return observed;
};

describe('planRedis', () => {
  it('claims the namespace, then creates a missing user', () => {
    expect(planRedis(tenant(), {}, CANONICAL)).toEqual([
      { type: 'claim' },
      { type: 'setUser', reason: 'user missing' },
    ]);
  });

  it('recreates a user it holds without claiming again', () => {
    expect(planRedis(tenant(), { owner: 'team/lh' }, CANONICAL).map((a) => a.type)).toEqual([
      'setUser',
    ]);
  });

  it('plans nothing for a converged user', () => {
    expect(planRedis(tenant(), converged(), CANONICAL)).toEqual([]);
  });

  it.each<[string, ObservedRedis, string]>([
    [
      'a rotated password',
      converged({ passwordHashes: [redisPasswordHash('old')] }),
      'password differs',
    ],
    [
      'a second password',
      converged({ passwordHashes: [redisPasswordHash('secret'), redisPasswordHash('x')] }),
      'password differs',
    ],
    ['widened keys', converged({ keys: '~*' }), 'key patterns differ (~*)'],
    ['widened channels', converged({ channels: '&*' }), 'channel patterns differ (&*)'],
    ['added commands', converged({ commands: '+@all' }), 'command rules differ'],
    ['a disabled user', converged({ enabled: false }), 'user disabled'],
    ['a selector', converged({ selectors: 1 }), 'extra selectors'],
  ])('resets %s', (_, observed, reason) => {
    expect(planRedis(tenant(), observed, CANONICAL)).toEqual([{ type: 'setUser', reason }]);
  });

  it('disables a retained user and drops its connections', () => {
    expect(
      planRedis(tenant({ enabled: false }), converged(), CANONICAL).map((a) => a.type),
    ).toEqual(['setUser', 'killClients']);
  });

  it('removes the user before its keys, and its ownership record last', () => {
    expect(planRedisRemoval(tenant(), converged()).map((a) => a.type)).toEqual([
      'deleteUser',
      'deleteKeys',
      'release',
    ]);
  });

  it('removes nothing when nothing is there', () => {
    expect(planRedisRemoval(tenant(), {})).toEqual([]);
  });
});

describe('ownership', () => {
  it.each<[string, ObservedRedis]>([
    ['a user another owner holds', { ...converged(), owner: 'other/lh' }],
    ['a user nobody recorded, with another password', unrecorded({ passwordHashes: ['x'] })],
    ['keys nobody recorded', { keysExist: true }],
  ])('refuses %s, for provisioning and for removal', (_, observed) => {
    expect(() => planRedis(tenant(), observed, CANONICAL)).toThrow(OwnershipError);
    expect(() => planRedisRemoval(tenant(), observed)).toThrow(OwnershipError);
  });

  it('refuses a namespace overlapping one another owner holds', () => {
    expect(() => planRedis(tenant(), { overlappingOwners: ['other/x'] }, CANONICAL)).toThrow(
      /overlaps/,
    );
  });

  it('adopts existing keys only when asked to', () => {
    expect(
      planRedis(tenant({ adoptExistingKeys: true }), { keysExist: true }, CANONICAL)[0],
    ).toEqual({ type: 'claim' });
  });

  it('never adopts for another owner, even when asked to', () => {
    const held = { ...converged(), owner: 'other/lh' };
    expect(() => planRedis(tenant({ adoptExistingKeys: true }), held, CANONICAL)).toThrow(
      /held by another owner/,
    );
  });

  it("claims a user from before the record when it holds this instance's password", () => {
    expect(planRedis(tenant(), unrecorded(), CANONICAL)).toEqual([{ type: 'claim' }]);
  });

  it('refuses without naming who holds the name', () => {
    expect(() =>
      planRedis(tenant(), { ...converged(), owner: 'team-b/secret' }, CANONICAL),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('team-b') }));
  });

  it('keeps its record outside every namespace a tenant may have', () => {
    expect(assertReservedKey(OWNERSHIP_KEY)).toBe(OWNERSHIP_KEY);
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/), (namespace) => {
        let valid = true;
        try {
          checkNamespace('redisNamespace', namespace);
        } catch {
          valid = false;
        }
        return !valid || !tenantPatternMatches(namespace, OWNERSHIP_KEY);
      }),
    );
    expect(() => assertReservedKey('owners:tse')).toThrow(/no ":"/);
    expect(() => assertReservedKey('tseowners')).toThrow(/no namespace may use/);
  });
});

describe('overlapping namespaces', () => {
  it('are under one another at a ":"', () => {
    expect(enclosingNamespaces('a:b:c')).toEqual(['a', 'a:b']);
    expect(enclosingNamespaces('a')).toEqual([]);
    expect(enclosingNamespaces('a::b')).toEqual(['a', 'a:']);
    // Exactly the namespaces whose `:`-prefix the name starts with.
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a:]{0,8}$/),
        fc.stringMatching(/^[a:]{0,8}$/),
        (ns, other) => {
          const under = enclosingNamespaces(ns).includes(other);
          return under === (other !== ns && ns.startsWith(`${other}:`));
        },
      ),
    );
  });

  it('are matched by a pattern that means only the name', () => {
    expect(escapeGlob('a.b-c_d:e')).toBe('a.b-c_d:e');
    expect(escapeGlob('a*b?[c]\\')).toBe('a\\*b\\?\\[c\\]\\\\');
  });
});

describe('commandFor', () => {
  it('resets the user and confines it to its namespace', () => {
    const command = commandFor({ type: 'setUser', reason: '' }, tenant());
    expect(command.slice(0, 8)).toEqual([
      'ACL',
      'SETUSER',
      'trading_system:LH',
      'reset',
      'on',
      `#${redisPasswordHash('secret')}`,
      '~trading_system:LH:*',
      '&trading_system:LH:*',
    ]);
    expect(command).toContain('-@all');
    expect(command).toContain('+get');
    expect(command.filter((rule) => rule.startsWith('+@'))).toEqual([]);
    expect(command).not.toContain('secret');
  });
});

describe('claims', () => {
  it('claim and release run their scripts on the record and the index, for the user and owner', () => {
    expect(commandFor({ type: 'claim' }, tenant())).toEqual([
      'EVAL',
      CLAIM_SCRIPT,
      '2',
      OWNERSHIP_KEY,
      CLAIMED_KEY,
      'trading_system:LH',
      'team/lh',
      'trust',
    ]);
    expect(commandFor({ type: 'claim' }, tenant(), { rebuildIndex: true }).at(-1)).toBe('rebuild');
    expect(commandFor({ type: 'release' }, tenant()).slice(1, 2)).toEqual([RELEASE_SCRIPT]);
  });

  it('keep the index out of every tenant pattern, like the record', () => {
    expect(assertReservedKey(CLAIMED_KEY)).toBe(CLAIMED_KEY);
  });

  it('read the users under a namespace as the lexical range after "ns:" and before "ns;"', () => {
    expect(usersUnder('a:b')).toEqual(['[a:b:', '(a:b;']);
    expect(':'.charCodeAt(0) + 1).toBe(';'.charCodeAt(0));
  });

  it('accept a claim made now or held by the same owner, and refuse the rest by name', () => {
    expect(() => assertClaimed(['claimed'], tenant())).not.toThrow();
    expect(() => assertClaimed(['held', 'team/lh'], tenant())).not.toThrow();
    expect(() => assertClaimed(['held', 'team/other'], tenant())).toThrow(ClaimConflictError);
    expect(() => assertClaimed(['held', 'team/other'], tenant())).toThrow(
      /"trading_system:LH" was claimed by another owner/,
    );
    expect(() => assertClaimed(['overlap'], tenant())).toThrow(
      /namespace "trading_system:LH" overlaps .*nothing was changed/,
    );
    expect(() => assertClaimed(null, tenant())).toThrow(/unexpected reply/);
  });
});

describe('TENANT_COMMANDS', () => {
  it('lists single commands, never a category, and none that enumerate or reach other databases', () => {
    for (const command of TENANT_COMMANDS) expect(command).toMatch(/^[a-z_]+(\|[a-z_-]+)?$/);
    for (const forbidden of ['keys', 'scan', 'randomkey', 'select', 'move', 'copy', 'swapdb'])
      expect(TENANT_COMMANDS).not.toContain(forbidden);
  });
});
