import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { useDatabase } from '../support/fixtures.ts';

const database = useDatabase();

describe('the test stores', () => {
  it('run real SQL on a database of this file', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; version: string }>(
        'select current_database() as db, current_setting($1) as version',
        ['server_version_num'],
      );
      expect(rows[0]?.db).toBe(database.name);
      expect(Number(rows[0]?.version)).toBeGreaterThanOrEqual(130000);
    } finally {
      await client.end();
    }
  });

  it('run real commands on Redis, behind a password', async () => {
    const redis = new Redis(inject('redisUrl'));
    try {
      await redis.set('stores-test:key', 'value', 'EX', 10);
      expect(await redis.get('stores-test:key')).toBe('value');
      expect(await redis.acl('WHOAMI')).toBe('default');
    } finally {
      redis.disconnect();
    }
    const anonymous = new Redis(inject('redisUrl').replace(/\/\/[^@]+@/, '//'), {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    anonymous.on('error', () => {});
    await anonymous.connect().catch(() => {});
    await expect(anonymous.get('stores-test:key')).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();
  });
});
