import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkPostgresLogin,
  checkRedisLogin,
  deriveIdentity,
  generatePassword,
  PostgresProvisioner,
  postgresConnection,
  postgresTenant,
  postgresTls,
  RedisProvisioner,
  redisTenant,
  redisTls,
  type StoreTls,
} from '@tse/adapter';
import {
  API_VERSION,
  buildCredentialsSecret,
  KIND,
  secretValue,
  tradingEngineInstance,
} from '@tse/operator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../cluster/pki.ts';
import { startEngineProcess } from '../support/engine-process.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';
import { waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';

// A PostgreSQL and a Redis that accept TLS only, with certificates made here:
// whatever the admin connection says about TLS must reach every connection
// the operator makes, and the URLs it hands the engines.
const dir = mkdtempSync(join(tmpdir(), 'tse-tls-'));
const other = mkdtempSync(join(tmpdir(), 'tse-tls-other-'));
let postgres: StoreServer;
let redis: StoreServer;
let postgresAdmin: { url: string; tls: StoreTls };
let redisAdmin: { url: string; tls: StoreTls };
let ca: string;

beforeAll(async () => {
  const pki = createPki(dir);
  createPki(other);
  ca = readFileSync(pki.caCert, 'utf8');
  const binaries = findPostgresBinaries();
  const redisServer = findRedisServer();
  if (!binaries || !redisServer)
    throw new Error(
      'no PostgreSQL or Redis server binaries: apt-get install postgresql redis-server',
    );
  [postgres, redis] = await Promise.all([
    startLocalPostgres(binaries, {
      tls: {
        cert: readFileSync(pki.serving.cert, 'utf8'),
        key: readFileSync(pki.serving.key, 'utf8'),
      },
    }),
    startLocalRedis(redisServer, { tls: { ...pki.serving, ca: pki.caCert } }),
  ]);
  const url = new URL(postgres.url);
  url.searchParams.set('sslmode', 'verify-full');
  url.searchParams.set('sslrootcert', pki.caCert);
  postgresAdmin = { url: url.toString(), tls: postgresTls(url.toString(), 'admin URL') };
  redisAdmin = { url: redis.url, tls: redisTls(redis.url, 'admin URL', ca) };
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([postgres?.stop(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

describe('a PostgreSQL that accepts TLS only', () => {
  it('is provisioned, and the tenant login check goes over TLS with the admin URL CA', async () => {
    const provisioner = new PostgresProvisioner(postgresAdmin.url);
    try {
      const tenant = postgresTenant(deriveIdentity({ instanceName: 'tls-system-engine-A' }), {
        password: generatePassword(),
        database: 'postgres',
        owner: 'tls/a',
      });
      await provisioner.ensure(tenant);
      expect(await checkPostgresLogin(provisioner.pool.options, tenant)).toEqual({ ok: true });
    } finally {
      await provisioner.close();
    }
  });

  it('refuses a server certificate the admin URL CA did not sign', async () => {
    const url = new URL(postgresAdmin.url);
    url.searchParams.set('sslrootcert', join(other, 'ca.crt'));
    const provisioner = new PostgresProvisioner(url.toString());
    await expect(provisioner.database()).rejects.toThrow(/certificate|self.signed|unable/i);
    await provisioner.close();
  });
});

describe('a Redis that accepts TLS only', () => {
  const tenant = redisTenant(deriveIdentity({ instanceName: 'tls-system-engine-B' }), {
    password: generatePassword(),
    owner: 'tls/b',
  });

  it('is provisioned over rediss:// with the admin CA, and the tenant login check follows', async () => {
    const provisioner = new RedisProvisioner(redisAdmin.url, redisAdmin.tls);
    try {
      await provisioner.ensure(tenant);
      expect(await checkRedisLogin(redisAdmin.url, tenant, redisAdmin.tls)).toEqual({ ok: true });
    } finally {
      await provisioner.close();
    }
  });

  it('refuses a server the CA did not sign, and a plaintext connection', async () => {
    const foreign = redisTls(redis.url, 'x', readFileSync(join(other, 'ca.crt'), 'utf8'));
    const unverified = await checkRedisLogin(redisAdmin.url, tenant, foreign);
    expect(unverified).toMatchObject({ ok: false, badCredentials: false });
    expect(unverified.ok || unverified.reason).toMatch(/certificate|self.signed|unable/i);
    const plaintext = await checkRedisLogin(redis.url.replace('rediss:', 'redis:'), tenant, {
      mode: 'disable',
    });
    expect(plaintext.ok).toBe(false);
  });
});

describe('an engine given the URLs the operator writes', () => {
  it('reaches both stores over TLS, verified against the CAs beside the URLs', async () => {
    const object = tradingEngineInstance.parse({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name: 'tls-c',
        namespace: 'tls',
        uid: 'uid-tls-c',
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      spec: { instanceName: 'tls-system-engine-C' },
    });
    const identity = deriveIdentity({ instanceName: 'tls-system-engine-C' });
    const password = generatePassword();
    const pgAdmin = new PostgresProvisioner(postgresAdmin.url);
    const cacheAdmin = new RedisProvisioner(redisAdmin.url, redisAdmin.tls);
    try {
      await pgAdmin.ensure(
        postgresTenant(identity, { password, database: 'postgres', owner: 'tls/c' }),
      );
      await cacheAdmin.ensure(redisTenant(identity, { password, owner: 'tls/c' }));
    } finally {
      await Promise.all([pgAdmin.close(), cacheAdmin.close()]);
    }
    const secret = buildCredentialsSecret(
      object,
      {
        host: '127.0.0.1',
        port: Number(new URL(postgres.url).port),
        user: identity.postgresSchema,
        password,
        database: 'postgres',
        tls: postgresAdmin.tls,
      },
      {
        host: '127.0.0.1',
        port: Number(new URL(redis.url).port),
        user: identity.redisNamespace,
        password,
        tls: redisAdmin.tls,
      },
      { trade: generatePassword(), read: generatePassword() },
    );
    // The pod would find the CA bundles at the Secret's mount; here they are in the test's directory.
    const postgresUrl = new URL(secretValue(secret, 'POSTGRES_URL') ?? '');
    expect(postgresUrl.searchParams.get('sslmode')).toBe('verify-full');
    expect(secretValue(secret, 'postgres-ca.crt')).toBe(ca);
    postgresUrl.searchParams.set('sslrootcert', join(dir, 'ca.crt'));
    const engine = await startEngineProcess({
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_URL: postgresUrl.toString(),
      REDIS_URL: secretValue(secret, 'REDIS_URL') ?? '',
      REDIS_CA_FILE: join(dir, 'ca.crt'),
    });
    try {
      const health = await waitFor('the engine to reach both stores', async () => {
        const { body } = await engine.get('/api/v1/health');
        return body.status === 'healthy' ? body : undefined;
      }).catch(async (error) => {
        throw new Error(
          `${error.message}\n${JSON.stringify((await engine.get('/api/v1/health')).body)}`,
        );
      });
      expect(health).toMatchObject({ role: 'active', instance: identity.instanceName });
      // The server sees the engine's sessions encrypted (it refuses any other kind anyway).
      const admin = new pg.Client(postgresConnection(postgresAdmin.url, postgresAdmin.tls));
      await admin.connect();
      try {
        const { rows } = await admin.query<{ ssl: boolean }>(
          `select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = $1`,
          [identity.postgresSchema],
        );
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((row) => row.ssl)).toBe(true);
      } finally {
        await admin.end();
      }
    } finally {
      await engine.signal('SIGTERM');
    }
  });
});
