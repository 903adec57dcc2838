import {
  deriveIdentity,
  generatePassword,
  PostgresProvisioner,
  type PostgresTenant,
  postgresTenant,
} from '@tse/adapter';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, withCredentials, withDatabase } from '../support/fixtures.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';

// PUBLIC's CONNECT on the server's other databases lets every tenant role log
// in to them. Revoking it is server-wide, so this file has a server of its own:
// the shared one's other databases belong to other test files.
let server: StoreServer;
let tenantsUrl: string;
let provisioner: PostgresProvisioner;
const revoke = { policy: { revokePublicConnect: true } };

beforeAll(async () => {
  const binaries = findPostgresBinaries();
  if (!binaries) throw new Error('no PostgreSQL server binaries: apt-get install postgresql');
  server = await startLocalPostgres(binaries);
  await adminQuery(server.url, 'create database tenants');
  await adminQuery(server.url, 'create database other_app');
  await adminQuery(
    server.url,
    `create role other_app_user login password 'other-app-pass';
     grant connect on database other_app to other_app_user`,
  );
  tenantsUrl = withDatabase(server.url, 'tenants');
  provisioner = new PostgresProvisioner(tenantsUrl);
}, 120_000);

afterAll(async () => {
  await provisioner?.close();
  await server?.stop();
});

const tenant = (name: string): PostgresTenant =>
  postgresTenant(deriveIdentity({ instanceName: `public-system-engine-${name}` }), {
    password: generatePassword(),
    database: 'tenants',
    owner: `team-a/${name}`,
  });

/** Logs in to `database` as `user` and runs one query; rejects with the server's refusal. */
async function connectAs(database: string, user: string, password: string): Promise<void> {
  const client = new pg.Client({
    connectionString: withCredentials(withDatabase(server.url, database), user, password),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
}

async function publicCanConnect(database: string): Promise<boolean> {
  const { rows } = await adminQuery(
    server.url,
    `select has_database_privilege('public', $1, 'CONNECT') as open`,
    [database],
  );
  return rows[0]?.open === true;
}

describe('PUBLIC CONNECT on the other databases of the server', () => {
  const a = tenant('reporter');
  const c = tenant('revoker');

  it('by default is reported, naming them, and left as it is', async () => {
    const result = await provisioner.ensure(a);
    expect(result.openToPublic).toEqual(['other_app', 'postgres', 'template1']);
    expect(result.statements.join('\n')).not.toMatch(/other_app|template1/);
    expect(await publicCanConnect('other_app')).toBe(true);
    // What the report is about: the tenant logs in to another application's database.
    await expect(connectAs('other_app', a.role, a.password)).resolves.toBeUndefined();
    expect((await provisioner.ensure(a)).statements).toEqual([]);
  });

  it('needs an admin that owns them: the preflight names the databases, nothing is revoked, and the tenant is not held up', async () => {
    await adminQuery(
      server.url,
      `create role weak_admin login createrole password 'weak-admin-pass';
       alter database tenants owner to weak_admin`,
    );
    const weak = new PostgresProvisioner(
      withCredentials(tenantsUrl, 'weak_admin', 'weak-admin-pass'),
    );
    try {
      const b = tenant('weakly');
      // The tenant itself is in place (as a superuser made it); only the server-wide step remains.
      await provisioner.ensure(b);
      const result = await weak.ensure(b, revoke);
      expect(result.statements).toEqual([]);
      expect(result.publicConnectError).toMatch(
        /ownership of database "other_app", "postgres", "template1"/,
      );
      expect(result.publicConnectError).not.toContain('weak-admin-pass');
      expect(result.openToPublic).toEqual(['other_app', 'postgres', 'template1']);
      expect(await publicCanConnect('other_app')).toBe(true);
    } finally {
      await weak.close();
      await adminQuery(server.url, 'alter database tenants owner to postgres');
    }
  });

  it('when revoked, keeps tenants out of them and their own roles in, and converges', async () => {
    const result = await provisioner.ensure(c, revoke);
    expect(result.actions).toContainEqual({
      type: 'revokePublicOtherDatabase',
      database: 'other_app',
    });
    expect(result.openToPublic).toEqual([]);
    for (const database of ['other_app', 'postgres', 'template1'])
      expect(await publicCanConnect(database)).toBe(false);

    await expect(connectAs('other_app', c.role, c.password)).rejects.toThrow(
      /permission denied for database "other_app"/,
    );
    await expect(connectAs('postgres', c.role, c.password)).rejects.toThrow(
      /permission denied for database "postgres"/,
    );
    // The earlier tenant is shut out too: the revoke is server-wide.
    const earlier = await provisioner.ensure(a, revoke);
    expect(earlier.statements).toEqual([]);
    await expect(connectAs('other_app', a.role, a.password)).rejects.toThrow(
      /permission denied for database "other_app"/,
    );
    // The role other_app granted CONNECT to by name, and tenants in their own database, still log in.
    await expect(
      connectAs('other_app', 'other_app_user', 'other-app-pass'),
    ).resolves.toBeUndefined();
    await expect(connectAs('tenants', c.role, c.password)).resolves.toBeUndefined();

    const again = await provisioner.ensure(c, revoke);
    expect(again.actions).toEqual([]);
    expect(again.statements).toEqual([]);
  });

  it('reports, naming the database, when PUBLIC still has CONNECT after the REVOKE', async () => {
    // A grant to PUBLIC by another grantor survives the owner's REVOKE.
    await adminQuery(server.url, 'create database stubborn');
    await adminQuery(
      server.url,
      `revoke connect, temporary on database stubborn from public;
       create role stubborn_grantor nologin;
       grant connect on database stubborn to stubborn_grantor with grant option;
       set role stubborn_grantor;
       grant connect on database stubborn to public;
       reset role`,
    );
    try {
      const result = await provisioner.ensure(c, revoke);
      expect(result.publicConnectError).toMatch(/PUBLIC still has CONNECT on database "stubborn"/);
      expect(result.openToPublic).toEqual(['stubborn']);
    } finally {
      await adminQuery(server.url, 'drop database stubborn');
      await adminQuery(server.url, 'drop role stubborn_grantor');
    }
  });
});
