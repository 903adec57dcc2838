import {
  deriveIdentity,
  failFastOptions,
  generatePassword,
  PostgresProvisioner,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniquePrefix, useDatabase, withCredentials } from '../support/fixtures.ts';

// Two instances provisioned side by side; A logs in with the credentials
// provisioning issued and tries everything it must not be able to do to B.
const database = useDatabase();
const prefix = uniquePrefix();
const a = deriveIdentity({ instanceName: `${prefix}-system-engine-A` });
const b = deriveIdentity({ instanceName: `${prefix}-system-engine-B` });
const secrets = { a: generatePassword(), b: generatePassword() };
let sqlA: pg.Client;
let redisA: Redis;
let redisB: Redis;

beforeAll(async () => {
  const postgres = new PostgresProvisioner(database.url);
  const redis = new RedisProvisioner(inject('redisUrl'));
  for (const [identity, password] of [
    [a, secrets.a],
    [b, secrets.b],
  ] as const) {
    await postgres.ensure(postgresTenant(identity, { password, database: database.name }));
    await redis.ensure(redisTenant(identity, { password }));
  }
  await postgres.pool.query(
    `create table ${b.postgresSchema}.secrets (v text); insert into ${b.postgresSchema}.secrets values ('b-only')`,
  );
  await redis.admin.set(`${b.redisNamespace}:secret`, 'b-only');
  await postgres.close();
  await redis.close();

  sqlA = new pg.Client({
    connectionString: withCredentials(database.url, a.postgresSchema, secrets.a),
  });
  await sqlA.connect();
  const { hostname, port } = new URL(inject('redisUrl'));
  const tenantRedis = (identity: typeof a, password: string) =>
    new Redis(
      failFastOptions({
        host: hostname,
        port: Number(port),
        username: identity.redisNamespace,
        password,
      }),
    );
  redisA = tenantRedis(a, secrets.a);
  redisB = tenantRedis(b, secrets.b);
  for (const client of [redisA, redisB]) client.on('error', () => {});
  await Promise.all([redisA.connect(), redisB.connect()]);
});

afterAll(async () => {
  await sqlA?.end();
  redisA?.disconnect();
  redisB?.disconnect();
});

const denied = (sql: string) =>
  expect(sqlA.query(sql)).rejects.toThrow(/permission denied|must be|not allowed/);
const noPerm = (...command: string[]) => {
  const [name, ...args] = command as [string, ...string[]];
  return expect(redisA.call(name, ...args)).rejects.toThrow(/NOPERM/);
};

describe('PostgreSQL: instance A with its own credentials', () => {
  it('works in its own schema by default', async () => {
    await sqlA.query('create table orders (id int primary key)');
    await sqlA.query('insert into orders values (1)');
    const { rows } = await sqlA.query(
      'select current_schema() as schema, count(*)::int as n from orders',
    );
    expect(rows[0]).toEqual({ schema: a.postgresSchema, n: 1 });
  });

  it('cannot read, write or delete anything of B', async () => {
    await denied(`select * from ${b.postgresSchema}.secrets`);
    await denied(`insert into ${b.postgresSchema}.secrets values ('a')`);
    await denied(`delete from ${b.postgresSchema}.secrets`);
    await denied(`drop table ${b.postgresSchema}.secrets`);
    await denied(`create table ${b.postgresSchema}.intruder (v int)`);
  });

  it('cannot list the tables of B', async () => {
    const { rows } = await sqlA.query(
      `select table_name from information_schema.tables where table_schema = $1`,
      [b.postgresSchema],
    );
    expect(rows).toEqual([]);
  });

  it("cannot create in public, create roles or databases, or take B's schema", async () => {
    await denied('create table public.intruder (v int)');
    await denied('create role intruder');
    await denied(`create database intruder_${prefix}`);
    await denied(`alter schema ${b.postgresSchema} owner to ${a.postgresSchema}`);
    await denied(`alter role ${b.postgresSchema} password 'x'`);
  });
});

describe('Redis: instance A with its own credentials', () => {
  it('works in its own namespace', async () => {
    await redisA.set(`${a.redisNamespace}:k`, 'v');
    expect(await redisA.get(`${a.redisNamespace}:k`)).toBe('v');
    await redisA.hset(`${a.redisNamespace}:h`, 'f', '1');
    expect(await redisA.del(`${a.redisNamespace}:k`, `${a.redisNamespace}:h`)).toBe(2);
    expect(await redisA.publish(`${a.redisNamespace}:events`, 'hello')).toBe(0);
  });

  it('cannot read, write, delete or publish anything of B', async () => {
    await noPerm('GET', `${b.redisNamespace}:secret`);
    await noPerm('SET', `${b.redisNamespace}:secret`, 'x');
    await noPerm('DEL', `${b.redisNamespace}:secret`);
    await noPerm('PUBLISH', `${b.redisNamespace}:events`, 'x');
    await noPerm('SUBSCRIBE', `${b.redisNamespace}:events`);
    await noPerm('RENAME', `${a.redisNamespace}:x`, `${b.redisNamespace}:x`);
  });

  it('cannot list key or channel names', async () => {
    await noPerm('SCAN', '0');
    await noPerm('KEYS', '*');
    await noPerm('RANDOMKEY');
    await noPerm('DBSIZE');
    await noPerm('PUBSUB', 'CHANNELS');
    await noPerm('CLIENT', 'LIST');
  });

  it('cannot flush, configure, manage ACLs, scripts or functions, or switch databases', async () => {
    await noPerm('FLUSHALL');
    await noPerm('FLUSHDB');
    await noPerm('CONFIG', 'GET', '*');
    await noPerm('ACL', 'SETUSER', b.redisNamespace, 'nopass');
    await noPerm('ACL', 'LIST');
    await noPerm('SCRIPT', 'FLUSH');
    await noPerm('FUNCTION', 'FLUSH');
    await noPerm('EVAL', 'return 1', '0');
    // The server refuses DEBUG to everyone by default; ask the ACL itself, too.
    const admin = new Redis(inject('redisUrl'));
    const verdict = await admin.call('ACL', 'DRYRUN', a.redisNamespace, 'DEBUG', 'SLEEP', '0');
    admin.disconnect();
    expect(String(verdict)).toMatch(/no permissions to run the 'debug' command/);
    await noPerm('SELECT', '1');
    await noPerm('SHUTDOWN');
  });

  it('leaves B its data', async () => {
    expect(await redisB.get(`${b.redisNamespace}:secret`)).toBe('b-only');
  });
});
