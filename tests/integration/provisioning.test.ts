import {
  AdminAuthenticationError,
  checkPostgresLogin,
  checkRedisLogin,
  deriveIdentity,
  FencedError,
  generatePassword,
  OwnershipError,
  PostgresProvisioner,
  planPostgres,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, uniquePrefix, useDatabase } from '../support/fixtures.ts';

const database = useDatabase();
const prefix = uniquePrefix();
let postgres: PostgresProvisioner;
let redis: RedisProvisioner;

beforeAll(() => {
  postgres = new PostgresProvisioner(database.url);
  redis = new RedisProvisioner(inject('redisUrl'));
});
afterAll(async () => {
  await postgres.close();
  await redis.close();
});

const identity = (name: string) =>
  deriveIdentity({ instanceName: `${prefix}-system-engine-${name}` });
const pgTenant = (name: string, password = 'first-password', login = true) =>
  postgresTenant(identity(name), { password, database: database.name, login });
const rTenant = (name: string, password = 'first-password', enabled = true) =>
  redisTenant(identity(name), { password, enabled });

describe('admin credentials a store refuses', () => {
  it('are told apart from a store that cannot be reached, naming the admin Secret', async () => {
    const wrong = (url: string) => {
      const parsed = new URL(url);
      parsed.password = 'not-the-admin-password';
      return parsed.toString();
    };
    const pgAdmin = new PostgresProvisioner(wrong(database.url));
    const redisAdmin = new RedisProvisioner(wrong(inject('redisUrl')));
    try {
      const attempts = [
        () => pgAdmin.ensure(pgTenant('refused')),
        () => redisAdmin.ensure(rTenant('refused')),
      ];
      for (const attempt of attempts) {
        const error = await attempt().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(AdminAuthenticationError);
        expect((error as Error).message).toMatch(
          /refused the admin credentials: .*check the admin Secret/,
        );
        expect((error as Error).message).not.toContain('not-the-admin-password');
      }
    } finally {
      await pgAdmin.close();
      await redisAdmin.close();
    }
  });
});

describe('PostgreSQL provisioning on a real server', () => {
  it('creates the role and schema, and a second run plans nothing', async () => {
    const tenant = pgTenant('twice');
    const first = await postgres.ensure(tenant);
    expect(first.actions.map((a) => a.type)).toContain('createSchema');
    const second = await postgres.ensure(tenant);
    expect(second.statements).toEqual([]);
    expect(await checkPostgresLogin(postgres.pool.options, tenant)).toEqual({ ok: true });
  });

  it('converges after a run cut off halfway', async () => {
    const tenant = pgTenant('halfway');
    const cut = await postgres.ensure(tenant, { stopAfter: 2 });
    expect(cut.actions).toHaveLength(2);
    const resumed = await postgres.ensure(tenant);
    expect(resumed.actions.map((a) => a.type)).toEqual([
      'setSearchPath',
      'createSchema',
      'grantConnect',
    ]);
    expect((await postgres.ensure(tenant)).statements).toEqual([]);
  });

  it('gives the role no privilege it must not have', async () => {
    const tenant = pgTenant('privileges');
    await postgres.ensure(tenant);
    const { rows } = await adminQuery(
      database.url,
      `select rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolconnlimit,
              (select pg_get_userbyid(nspowner) from pg_namespace where nspname = $1) as owner
         from pg_roles where rolname = $1`,
      [tenant.role],
    );
    expect(rows[0]).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolconnlimit: 20,
      owner: tenant.role,
    });
  });

  it('rotates the password, leaving exactly one that works', async () => {
    const tenant = pgTenant('rotate');
    await postgres.ensure(tenant);
    const rotated = { ...tenant, password: generatePassword() };
    const result = await postgres.ensure(rotated);
    expect(result.actions.map((a) => a.type)).toEqual(['setPassword']);
    expect((await checkPostgresLogin(postgres.pool.options, rotated)).ok).toBe(true);
    expect(await checkPostgresLogin(postgres.pool.options, tenant)).toMatchObject({
      ok: false,
      badCredentials: true,
    });
  });

  it('repairs drift: a dropped schema and a lost search_path come back', async () => {
    const tenant = pgTenant('drift');
    await postgres.ensure(tenant);
    await adminQuery(
      database.url,
      `drop schema ${tenant.schema}; alter role ${tenant.role} reset search_path`,
    );
    const repaired = await postgres.ensure(tenant);
    expect(repaired.actions.map((a) => a.type)).toEqual(['setSearchPath', 'createSchema']);
  });

  it('retains: logins refused, schema and data kept', async () => {
    const tenant = pgTenant('retain');
    await postgres.ensure(tenant);
    await adminQuery(
      database.url,
      `create table ${tenant.schema}.kept (v int); insert into ${tenant.schema}.kept values (1)`,
    );
    await postgres.ensure({ ...tenant, login: false });
    expect((await checkPostgresLogin(postgres.pool.options, tenant)).ok).toBe(false);
    const { rows } = await adminQuery(database.url, `select v from ${tenant.schema}.kept`);
    expect(rows).toEqual([{ v: 1 }]);
  });

  it('deletes only its own schema and role', async () => {
    const doomed = pgTenant('doomed');
    const neighbour = pgTenant('neighbour');
    await postgres.ensure(doomed);
    await postgres.ensure(neighbour);
    await adminQuery(
      database.url,
      `create table ${doomed.schema}.t (v int); create table ${neighbour.schema}.t (v int)`,
    );
    await postgres.remove(doomed);
    const { rows } = await adminQuery(
      database.url,
      'select nspname from pg_namespace where nspname = any($1) union all select rolname from pg_roles where rolname = any($1)',
      [[doomed.schema, neighbour.schema]],
    );
    expect(rows.map((row) => row.nspname).sort()).toEqual([neighbour.schema, neighbour.schema]);
    expect((await postgres.remove(doomed)).statements).toEqual([]);
  });

  it('refuses to take over a role it did not create', async () => {
    const tenant = pgTenant('squatted');
    await adminQuery(database.url, `create role ${tenant.role} login`);
    await expect(postgres.ensure(tenant)).rejects.toThrow(OwnershipError);
    const observed = await postgres.observe(tenant);
    expect(() => planPostgres(tenant, observed)).toThrow(/not created for this instance/);
  });
});

describe('Redis provisioning on a real server', () => {
  it('claims the namespace and creates the user, and a second run sends no command', async () => {
    const tenant = rTenant('twice');
    expect((await redis.ensure(tenant)).commands.map((command) => command[0])).toEqual([
      'EVAL',
      'ACL',
    ]);
    expect((await redis.ensure(tenant)).commands).toEqual([]);
    expect(await checkRedisLogin(inject('redisUrl'), tenant)).toEqual({ ok: true });
  });

  it('rotates the password, leaving exactly one that works', async () => {
    const tenant = rTenant('rotate');
    await redis.ensure(tenant);
    const rotated = { ...tenant, password: generatePassword() };
    expect((await redis.ensure(rotated)).actions).toEqual([
      { type: 'setUser', reason: 'password differs' },
    ]);
    expect((await checkRedisLogin(inject('redisUrl'), rotated)).ok).toBe(true);
    expect((await checkRedisLogin(inject('redisUrl'), tenant)).ok).toBe(false);
  });

  it('puts back a user someone widened or dropped', async () => {
    const tenant = rTenant('drift');
    await redis.ensure(tenant);
    await redis.admin.call('ACL', 'SETUSER', tenant.user, '~*', '+@all');
    expect((await redis.ensure(tenant)).actions).toEqual([
      { type: 'setUser', reason: 'key patterns differ (~*)' },
    ]);
    await redis.admin.call('ACL', 'DELUSER', tenant.user);
    expect((await redis.ensure(tenant)).actions).toEqual([
      { type: 'setUser', reason: 'user missing' },
    ]);
    expect((await redis.ensure(tenant)).commands).toEqual([]);
  });

  it('retains: login refused, keys kept; deletes: user and only its keys gone', async () => {
    const tenant = rTenant('lifecycle');
    const other = rTenant('lifecycle-other');
    await redis.ensure(tenant);
    await redis.admin.set(`${tenant.namespace}:a`, '1');
    await redis.admin.set(`${other.namespace}:a`, '2');
    await redis.ensure({ ...tenant, enabled: false });
    expect((await checkRedisLogin(inject('redisUrl'), tenant)).ok).toBe(false);
    expect(await redis.admin.get(`${tenant.namespace}:a`)).toBe('1');
    await redis.remove(tenant);
    expect(await redis.admin.exists(`${tenant.namespace}:a`, `${other.namespace}:a`)).toBe(1);
    expect(await redis.observe(tenant.user)).toEqual({});
  });
});

describe('a fence that closes (an operator replica that no longer leads)', () => {
  /** A fence that lets `open` changes through, then refuses, saying what it was asked about. */
  const fence = (closesAt: (what: string) => boolean) => {
    const asked: string[] = [];
    return {
      asked,
      check: (what: string) => {
        asked.push(what);
        if (closesAt(what)) throw new FencedError(`fence closed at ${what}`);
      },
    };
  };

  it('PostgreSQL: asked before each statement and the COMMIT; closed at the COMMIT, nothing stays', async () => {
    const atCommit = fence((what) => what.startsWith('the COMMIT'));
    const fenced = new PostgresProvisioner(database.url, { fence: atCommit.check });
    try {
      const tenant = pgTenant('fenced');
      await expect(fenced.ensure(tenant)).rejects.toThrow(FencedError);
      // Every statement was asked about, then the COMMIT, which was refused: rolled back.
      expect(atCommit.asked.length).toBeGreaterThan(2);
      expect(atCommit.asked.at(-1)).toMatch(/^the COMMIT/);
      const { rows } = await adminQuery(
        database.url,
        'select (select count(*) from pg_roles where rolname = $1)::int as roles, (select count(*) from pg_namespace where nspname = $1)::int as schemas',
        [tenant.role],
      );
      expect(rows[0]).toEqual({ roles: 0, schemas: 0 });
    } finally {
      await fenced.close();
    }
  });

  it('Redis: asked before each command that writes; what came before it stays, nothing after', async () => {
    const made = rTenant('fenced-later');
    await redis.ensure(made);
    let closing = false;
    const atSetuser = fence((what) => closing && what === 'Redis ACL');
    const fenced = new RedisProvisioner(inject('redisUrl'), undefined, { fence: atSetuser.check });
    const admin = new Redis(inject('redisUrl'));
    try {
      // Its one-off probe of how the server spells ACL rules (an ACL SETUSER) while open.
      await fenced.canonicalCommands();
      atSetuser.asked.length = 0;
      closing = true;
      const tenant = rTenant('fenced');
      await expect(fenced.ensure(tenant)).rejects.toThrow(FencedError);
      // The claim went (asked first, let through); the user, refused, was never made.
      expect(atSetuser.asked).toEqual(['Redis EVAL', 'Redis ACL']);
      expect(await admin.hget('tse-operator|owners', tenant.user)).not.toBeNull();
      expect(await admin.call('ACL', 'GETUSER', tenant.user)).toBeNull();
      // A removal is fenced alike: the user made while the fence was open is still there.
      await expect(fenced.remove(made)).rejects.toThrow(FencedError);
      expect(await admin.call('ACL', 'GETUSER', made.user)).not.toBeNull();
      await redis.remove(tenant);
    } finally {
      admin.disconnect();
      await fenced.close();
      await redis.remove(made);
    }
  });
});

describe('a tenant whose store is down', () => {
  it('gets a typed error naming the store', async () => {
    const down = new PostgresProvisioner('postgres://postgres:x@127.0.0.1:1/postgres');
    await expect(down.ensure(pgTenant('down'))).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      store: 'postgres',
    });
    await down.close();
    const redisDown = new RedisProvisioner('redis://127.0.0.1:1');
    await expect(redisDown.ensure(rTenant('down'))).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      store: 'redis',
    });
    await redisDown.close();
  });

  it('keeps a probe name out of the ACL list', async () => {
    const admin = new Redis(inject('redisUrl'));
    const users = (await admin.acl('USERS')) as string[];
    admin.disconnect();
    expect(users.filter((user) => user.startsWith('tse-acl-probe'))).toEqual([]);
  });
});

describe('many tenants provisioned at once', () => {
  it("all succeed, though they share the database's catalog rows", async () => {
    const tenants = Array.from({ length: 12 }, (_, i) => pgTenant(`burst-${i}`));
    const provisioners = Array.from({ length: 4 }, () => new PostgresProvisioner(database.url));
    try {
      await Promise.all(tenants.map((tenant, i) => provisioners[i % 4]?.ensure(tenant)));
      for (const tenant of tenants) expect((await postgres.ensure(tenant)).statements).toEqual([]);
    } finally {
      await Promise.all(provisioners.map((p) => p.close()));
    }
  });
});
