import { describe, expect, it } from 'vitest';
import {
  commandFor,
  type ObservedRedis,
  planRedis,
  planRedisRemoval,
  type RedisTenant,
  redisPasswordHash,
} from '../src/provisioning/index.ts';

const CANONICAL = '-@all +@read -scan';
const tenant = (changes: Partial<RedisTenant> = {}): RedisTenant => ({
  user: 'trading_system:LH',
  namespace: 'trading_system:LH',
  password: 'secret',
  enabled: true,
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
});

describe('planRedis', () => {
  it('creates a missing user', () => {
    expect(planRedis(tenant(), {}, CANONICAL)).toEqual([
      { type: 'setUser', reason: 'user missing' },
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

  it('removes the user before its keys', () => {
    expect(planRedisRemoval(converged()).map((a) => a.type)).toEqual(['deleteUser', 'deleteKeys']);
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
    expect(command).toContain('-scan');
    expect(command).not.toContain('secret');
  });
});
