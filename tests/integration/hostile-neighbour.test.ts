import {
  CLAIMED_KEY,
  deriveIdentity,
  failFastOptions,
  generatePassword,
  OWNERSHIP_KEY,
  OwnershipError,
  PostgresProvisioner,
  planRedis,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, uniquePrefix, useDatabase, withCredentials } from '../support/fixtures.ts';
import { within } from '../support/processes.ts';

// Attacks by a neighbour who has only its own tenant's credentials, or who
// created something under a name an instance will ask for. The operator must
// take nothing that is not its own, and nobody may stall it.
const database = useDatabase();
const prefix = uniquePrefix();
let postgres: PostgresProvisioner;
let redis: RedisProvisioner;
let admin: Redis;

beforeAll(() => {
  postgres = new PostgresProvisioner(database.url, { lockTimeoutMs: 1000 });
  redis = new RedisProvisioner(inject('redisUrl'));
  admin = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await postgres.close();
  await redis.close();
  admin.disconnect();
});

const identity = (name: string) =>
  deriveIdentity({ instanceName: `${prefix}-system-engine-${name}` });
const pgTenant = (name: string, owner = `team-a/${name}`) =>
  postgresTenant(identity(name), {
    password: generatePassword(),
    database: database.name,
    owner,
  });
const rTenant = (name: string, owner = `team-a/${name}`, adoptExistingKeys = false) =>
  redisTenant(identity(name), { password: generatePassword(), owner, adoptExistingKeys });
/** A Redis tenant of the namespace `<prefix>:<namespace>`. */
const namespaceTenant = (namespace: string, owner: string) =>
  redisTenant(deriveIdentity({ instanceName: 'x', redisNamespace: `${prefix}:${namespace}` }), {
    password: generatePassword(),
    owner,
  });

async function tenantClient(tenant: { role: string; password: string }): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: withCredentials(database.url, tenant.role, tenant.password),
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}

describe('PostgreSQL: names that are not ours', () => {
  it('refuses a schema owned by another role, and Delete leaves it and its tables', async () => {
    const tenant = pgTenant('foreign-schema');
    await adminQuery(
      database.url,
      `create role ${prefix}_app nologin;
       create schema ${tenant.schema} authorization ${prefix}_app;
       create table ${tenant.schema}.ledger (v int); insert into ${tenant.schema}.ledger values (7)`,
    );
    await expect(postgres.ensure(tenant)).rejects.toThrow(OwnershipError);
    await expect(postgres.ensure(tenant)).rejects.toThrow(/owned by another role/);
    await postgres.remove(tenant).catch(() => {});
    const { rows } = await adminQuery(
      database.url,
      `select pg_get_userbyid(nspowner) as owner, (select v from ${tenant.schema}.ledger) as v,
              exists (select from pg_roles where rolname = $2) as role_created
         from pg_namespace where nspname = $1`,
      [tenant.schema, tenant.role],
    );
    expect(rows).toEqual([{ owner: `${prefix}_app`, v: 7, role_created: false }]);
  });

  it('does not tell a tenant, through role comments, which namespace/name holds a schema', async () => {
    const a = pgTenant('reader');
    const b = pgTenant('secretive', 'team-b/secretive');
    await postgres.ensure(a);
    await postgres.ensure(b);
    const client = await tenantClient(a);
    try {
      const { rows } = await client.query(
        `select shobj_description(oid, 'pg_authid') as comment from pg_roles where rolname = $1`,
        [b.role],
      );
      expect(rows[0]?.comment).toMatch(/managed by trading-engine-operator/);
      expect(rows[0]?.comment).not.toContain('team-b');
    } finally {
      await client.end();
    }
  });
});

describe('PostgreSQL: no tenant can stall provisioning', () => {
  it('a tenant holding every advisory lock the operator used does not stop it', async () => {
    const squatter = pgTenant('squatter');
    await postgres.ensure(squatter);
    const client = await tenantClient(squatter);
    try {
      await client.query('select pg_advisory_lock(hashtext($1))', [
        'trading-engine-operator:provisioning',
      ]);
      const result = await within(15_000, postgres.ensure(pgTenant('after-squatter')));
      expect(result.actions.map((action) => action.type)).toContain('createSchema');
    } finally {
      await client.end();
    }
  });

  it('a lock held elsewhere turns Delete into a typed timeout, and it converges once released', async () => {
    // Tenants' own sessions are ended before a drop; a lock from any other
    // session (a stuck migration, a person's psql) must not stall the operator.
    const tenant = pgTenant('locker');
    await postgres.ensure(tenant);
    await adminQuery(database.url, `create table ${tenant.schema}.held (v int)`);
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`lock table ${tenant.schema}.held in access share mode`);
    const slow = new PostgresProvisioner(database.url, { lockTimeoutMs: 500 });
    try {
      await expect(within(15_000, slow.remove(tenant))).rejects.toMatchObject({
        code: 'STORE_TIMEOUT',
        store: 'postgres',
      });
      const { rows } = await adminQuery(
        database.url,
        'select exists (select from pg_namespace where nspname = $1) as kept',
        [tenant.schema],
      );
      expect(rows).toEqual([{ kept: true }]);
      await holder.query('rollback');
      await slow.remove(tenant);
      expect((await slow.remove(tenant)).statements).toEqual([]);
    } finally {
      await holder.end();
      await slow.close();
    }
  });
});

describe('PostgreSQL: PUBLIC privileges', () => {
  it('leaves PUBLIC no CONNECT or TEMP on the tenants database, and a tenant no temp tables', async () => {
    const tenant = pgTenant('public-db');
    await postgres.ensure(tenant);
    const { rows } = await adminQuery(
      database.url,
      `select has_database_privilege('public', current_database(), 'CONNECT') as connect,
              has_database_privilege('public', current_database(), 'TEMP') as temp`,
    );
    expect(rows).toEqual([{ connect: false, temp: false }]);
    const client = await tenantClient(tenant);
    try {
      await expect(client.query('create temp table t (v int)')).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await client.end();
    }
  });

  it('takes CREATE on public away from a new tenant even when PUBLIC was given it', async () => {
    await adminQuery(database.url, 'grant create on schema public to public');
    const tenant = pgTenant('public-schema');
    await postgres.ensure(tenant);
    const client = await tenantClient(tenant);
    try {
      await expect(client.query('create table public.intruder (v int)')).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await client.end();
    }
    expect((await postgres.ensure(tenant)).statements).toEqual([]);
  });

  it('says which admin capabilities are missing before changing anything', async () => {
    const weak = `${prefix}_weak_admin`;
    await adminQuery(
      database.url,
      `create role ${weak} login password 'weak-admin'; grant connect on database ${database.name} to ${weak}`,
    );
    const provisioner = new PostgresProvisioner(withCredentials(database.url, weak, 'weak-admin'));
    try {
      const error = await provisioner.ensure(pgTenant('weakly')).catch((caught) => caught);
      expect(error).toMatchObject({ code: 'ADMIN_CAPABILITY' });
      expect(error.message).toMatch(/CREATEROLE/);
      expect(error.message).toMatch(/CREATE on database/);
      expect(error.message).not.toContain('weak-admin');
    } finally {
      await provisioner.close();
    }
  });
});

describe('Redis: names that are not ours', () => {
  it('refuses an ACL user someone else made, and leaves it as it was', async () => {
    const tenant = rTenant('foreign-user');
    await admin.call('ACL', 'SETUSER', tenant.user, 'on', '>their-password', '~*', '+@all');
    await expect(redis.ensure(tenant)).rejects.toThrow(OwnershipError);
    await expect(redis.remove(tenant)).rejects.toThrow(OwnershipError);
    const user = await redis.observe(tenant.user);
    expect(user.user).toMatchObject({ enabled: true, keys: '~*' });
    const login = new Redis(
      failFastOptions({
        ...redisAddress(),
        username: tenant.user,
        password: 'their-password',
        retryStrategy: () => null,
      }),
    );
    login.on('error', () => {});
    await login.connect();
    expect(await login.ping()).toBe('PONG');
    login.disconnect();
  });

  it('refuses a namespace whose keys exist and are not ours, unless adoption is asked for', async () => {
    const tenant = rTenant('foreign-keys');
    await admin.set(`${tenant.namespace}:their`, 'data');
    await expect(redis.ensure(tenant)).rejects.toThrow(/keys.*exist/);
    expect(await redis.observe(tenant.user)).toEqual({});
    await expect(redis.remove(tenant)).rejects.toThrow(OwnershipError);
    expect(await admin.get(`${tenant.namespace}:their`)).toBe('data');

    const adopting = { ...tenant, adoptExistingKeys: true };
    expect((await redis.ensure(adopting)).actions.map((action) => action.type)).toContain(
      'setUser',
    );
    expect((await redis.ensure(adopting)).commands).toEqual([]);
    expect((await redis.ensure(tenant)).commands).toEqual([]);
  });

  it("does not hand a retained instance's user and keys to another owner", async () => {
    const first = rTenant('retained', 'team-a/retained');
    await redis.ensure(first);
    await admin.set(`${first.namespace}:kept`, '1');
    await redis.ensure({ ...first, enabled: false });
    const second = rTenant('retained', 'team-b/retained', true);
    await expect(redis.ensure(second)).rejects.toThrow(OwnershipError);
    await expect(redis.remove(second)).rejects.toThrow(OwnershipError);
    expect(await admin.get(`${first.namespace}:kept`)).toBe('1');
    await redis.remove(first);
    expect(await admin.exists(`${first.namespace}:kept`)).toBe(0);
  });

  it('refuses a namespace that is a ":"-prefix of one another owner holds', async () => {
    const inner = redisTenant(
      deriveIdentity({ instanceName: 'x', redisNamespace: `${prefix}:outer:inner` }),
      { password: generatePassword(), owner: 'team-a/inner' },
    );
    const outer = redisTenant(
      deriveIdentity({ instanceName: 'y', redisNamespace: `${prefix}:outer` }),
      { password: generatePassword(), owner: 'team-b/outer', adoptExistingKeys: true },
    );
    await redis.ensure(inner);
    await expect(redis.ensure(outer)).rejects.toThrow(OwnershipError);
    expect(await redis.observe(outer.user)).toEqual({});
  });

  it('finds an overlapping namespace among thousands of owners, claimed by this version or an earlier one', async () => {
    // 10,000 owners and one overlap written as an earlier version wrote them: into the record
    // only. While the index is not the record's size the look walks the record, a thousand
    // entries per HSCAN answer (the overlap is on the first page about one time in ten).
    const fillers = Array.from({ length: 10_000 }, (_, i) => `${prefix}-filler-${i}`);
    const earlier = namespaceTenant('earlier:inner', 'team-a/earlier');
    await admin.hset(OWNERSHIP_KEY, ...fillers.flatMap((user) => [user, 'team-z/filler']));
    await admin.hset(OWNERSHIP_KEY, earlier.user, String(earlier.owner));
    try {
      await expect(redis.ensure(namespaceTenant('earlier', 'team-b/earlier'))).rejects.toThrow(
        /overlaps a namespace held by another owner/,
      );
      // The first claim rebuilds the index from the record; from then on a look is a range of it.
      for (let i = 0; i < 5; i++) {
        await redis.ensure(namespaceTenant(`many${i}:inner`, `team-a/inner${i}`));
        await expect(redis.ensure(namespaceTenant(`many${i}`, `team-b/outer${i}`))).rejects.toThrow(
          /overlaps a namespace held by another owner/,
        );
      }
      expect(await admin.zscore(CLAIMED_KEY, earlier.user)).toBe('0');
      expect(await admin.zscore(CLAIMED_KEY, fillers[9_999] ?? '')).toBe('0');
    } finally {
      await admin.hdel(OWNERSHIP_KEY, earlier.user, ...fillers);
      await admin.zrem(CLAIMED_KEY, earlier.user, ...fillers);
    }
  });

  it('rebuilds the index at its first claim, even when its size matches the record', async () => {
    // As an earlier version sharing the Redis leaves it: one name claimed in the record only,
    // another released from the record only, so the sizes still match and the index is wrong.
    const earlier = namespaceTenant('stale:inner', 'team-a/stale');
    const ghost = `${prefix}:released-by-an-earlier-version`;
    await admin.hset(OWNERSHIP_KEY, earlier.user, String(earlier.owner));
    await admin.zadd(CLAIMED_KEY, 0, ghost);
    const fresh = new RedisProvisioner(inject('redisUrl'));
    const outer = namespaceTenant('stale', 'team-b/stale');
    try {
      // Its look may trust the index; its claim does not.
      await expect(fresh.ensure(outer)).rejects.toThrow(/overlaps a namespace/);
      expect(await admin.hget(OWNERSHIP_KEY, outer.user)).toBeNull();
      expect(await admin.zscore(CLAIMED_KEY, ghost)).toBeNull();
      expect(await admin.zscore(CLAIMED_KEY, earlier.user)).toBe('0');
    } finally {
      await fresh.close();
      await admin.hdel(OWNERSHIP_KEY, earlier.user);
      await admin.zrem(CLAIMED_KEY, earlier.user, ghost);
    }
  });

  it('checks and claims in one step: a claim the look missed is refused with nothing written', async () => {
    await redis.ensure(namespaceTenant('atomic:in', 'team-a/in'));
    // The claim sent without the look (as when two looks ran before either claim).
    const outer = namespaceTenant('atomic', 'team-b/out');
    await expect(redis.apply(outer, [{ type: 'claim' }])).rejects.toThrow(
      /overlaps a namespace another owner claimed at the same moment .*nothing was changed/,
    );
    expect(await admin.hget(OWNERSHIP_KEY, outer.user)).toBeNull();
    expect(await admin.zscore(CLAIMED_KEY, outer.user)).toBeNull();
    // Nor under a namespace held above it, at any depth.
    const deep = namespaceTenant('atomic:in:x:y', 'team-b/deep');
    await expect(redis.apply(deep, [{ type: 'claim' }])).rejects.toThrow(/at the same moment/);
    expect(await admin.hget(OWNERSHIP_KEY, deep.user)).toBeNull();
  });

  it("releases a claim from the record and the index together, and never another owner's", async () => {
    const tenant = namespaceTenant('released', 'team-a/released');
    await redis.ensure(tenant);
    expect(await admin.zscore(CLAIMED_KEY, tenant.user)).toBe('0');
    // A release sent for the name by another owner leaves it be, and says so.
    await expect(
      redis.apply({ ...tenant, owner: 'team-b/thief' }, [{ type: 'release' }]),
    ).rejects.toThrow(OwnershipError);
    expect(await admin.hget(OWNERSHIP_KEY, tenant.user)).toBe(tenant.owner);
    await redis.remove(tenant);
    expect(await admin.hget(OWNERSHIP_KEY, tenant.user)).toBeNull();
    expect(await admin.zscore(CLAIMED_KEY, tenant.user)).toBeNull();
  });

  it('lets only one of two overlapping namespaces claimed at the same moment stay', async () => {
    const canonical = await redis.canonicalCommands();
    for (const [first, second] of [
      [namespaceTenant('race:in', 'team-a/in'), namespaceTenant('race', 'team-b/out')],
      [namespaceTenant('race2', 'team-a/out'), namespaceTenant('race2:in', 'team-b/in')],
    ] as const) {
      // Both planned before either claimed: each saw the other's namespace free.
      const plans = await Promise.all(
        [first, second].map(async (tenant) =>
          planRedis(tenant, await redis.observeTenant(tenant), canonical),
        ),
      );
      expect(plans.map((plan) => plan.map((action) => action.type))).toEqual([
        ['claim', 'setUser'],
        ['claim', 'setUser'],
      ]);
      await redis.apply(first, plans[0] ?? []);
      await expect(redis.apply(second, plans[1] ?? [])).rejects.toThrow(
        /overlaps a namespace another owner claimed at the same moment/,
      );
      // The later claim is refused before it is written; the earlier one stands.
      expect(await admin.hget(OWNERSHIP_KEY, second.user)).toBeNull();
      expect(await redis.observe(second.user)).toEqual({});
      expect(await admin.hget(OWNERSHIP_KEY, first.user)).toBe(first.owner);
      expect((await redis.ensure(first)).commands).toEqual([]);
    }
  });

  it('refuses a namespace under one another owner holds, at any depth', async () => {
    await redis.ensure(namespaceTenant('top', 'team-a/top'));
    const deep = namespaceTenant('top:mid:leaf', 'team-b/leaf');
    await expect(redis.ensure(deep)).rejects.toThrow(/overlaps a namespace held by another owner/);
    expect(await redis.observe(deep.user)).toEqual({});
    // Only a ":" makes a namespace another's: one that merely starts with the same letters is free.
    expect((await redis.ensure(namespaceTenant('top2', 'team-b/top2'))).actions).toContainEqual({
      type: 'claim',
    });
  });
});

describe('Redis: admin capabilities', () => {
  it('says which admin commands are missing before changing anything', async () => {
    const weak = `${prefix}-weak-admin`;
    await admin.call(
      'ACL',
      'SETUSER',
      weak,
      'on',
      '>Weak-Pass-91',
      '~*',
      '+@read',
      '+acl|whoami',
      '+acl|dryrun',
    );
    const { host, port } = redisAddress();
    const provisioner = new RedisProvisioner(
      `redis://${encodeURIComponent(weak)}:Weak-Pass-91@${host}:${port}`,
    );
    try {
      const tenant = rTenant('weak-admin');
      const error = await provisioner.ensure(tenant).catch((caught) => caught);
      expect(error).toMatchObject({ code: 'ADMIN_CAPABILITY' });
      expect(error.message).toMatch(
        /ACL SETUSER, ACL DELUSER, CLIENT KILL, EVAL, UNLINK, HSET, HDEL, DEL, ZADD, ZREM/,
      );
      expect(error.message).not.toContain('Weak-Pass-91');
      expect(await redis.observe(tenant.user)).toEqual({});
    } finally {
      await provisioner.close();
      await admin.call('ACL', 'DELUSER', weak);
    }
  });
});

function redisAddress(): { host: string; port: number } {
  const { hostname, port } = new URL(inject('redisUrl'));
  return { host: hostname, port: Number(port) };
}
