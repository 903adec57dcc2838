import { randomBytes } from 'node:crypto';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { RedisProvisioner } from '@tse/adapter';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery } from '../support/fixtures.ts';
import {
  applyYaml,
  condition,
  installCrd,
  type Kube,
  kube,
  TEI,
  teiManifest,
  waitForCondition,
  waitForProvisioned,
} from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { startOperatorProcess } from '../support/operator-process.ts';
import { findPostgresBinaries, startLocalPostgres } from '../support/postgres.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';
import type { StoreServer } from '../support/stores.ts';

// Stores of this file's own, so that they can be stopped and started again
// on the same port with the same admin password.
const password = 'resilience-admin';
let ports: { postgres: number; redis: number };
let postgres: StoreServer;
let redis: StoreServer;
let k: Kube;

const startPostgres = async () => {
  postgres = await startLocalPostgres(findPostgresBinaries() as string, {
    port: ports.postgres,
    password,
  });
};
const startRedis = async () => {
  redis = await startLocalRedis(findRedisServer() as string, { port: ports.redis, password });
};
const storesEnv = () => ({
  KUBECONFIG: inject('kubeconfig'),
  POSTGRES_ADMIN_URL: postgres.url,
  REDIS_ADMIN_URL: redis.url,
});
const newNamespace = async (prefix: string) => {
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  return namespace;
};
const apply = (namespace: string, name: string, spec: Record<string, unknown> = {}) =>
  applyYaml(k, JSON.stringify(teiManifest(namespace, name, spec)));

beforeAll(async () => {
  ports = { postgres: await freePort(), redis: await freePort() };
  await Promise.all([startPostgres(), startRedis()]);
  k = kube(inject('kubeconfig'));
  await installCrd(k);
});

afterAll(async () => {
  await Promise.allSettled([postgres?.stop(), redis?.stop()]);
});

describe('a store that goes down', () => {
  let operator: InProcessOperator;
  let namespace: string;
  beforeAll(async () => {
    namespace = await newNamespace('outage');
    operator = await runOperator({
      ...storesEnv(),
      WATCH_NAMESPACES: namespace,
      RESYNC_PERIOD_SECONDS: '5',
    });
    await apply(namespace, 'outage');
    await waitForProvisioned(k, namespace, 'outage', { timeoutMs: 90_000 });
  });
  afterAll(() => operator?.stop());

  it.each([
    ['Redis', 'CacheReady', 'RedisUnavailable', () => redis.stop(), startRedis],
    ['PostgreSQL', 'DatabaseReady', 'PostgresUnavailable', () => postgres.stop(), startPostgres],
  ])(
    '%s: a condition with the reason, the engine left alone, full recovery when it returns',
    async (_, type, reason, stop, start) => {
      const before = await k.apps.readNamespacedDeployment({ namespace, name: 'outage' });
      await stop();
      // Provisioned before: whether the store still holds it cannot be told, and its names stay held.
      const down = await waitForCondition(k, namespace, 'outage', type, 'Unknown', {
        reason,
        timeoutMs: 30_000,
      });
      expect(condition(down, 'Ready')).toMatchObject({ status: 'False', reason });
      expect(condition(down, type)?.message).toMatch(/unavailable/);
      const during = await k.apps.readNamespacedDeployment({ namespace, name: 'outage' });
      expect(during.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);

      // The store comes back empty: the operator provisions the instance again from its Secret.
      await start();
      const back = await waitForProvisioned(k, namespace, 'outage');
      expect(condition(back, type)?.status).toBe('True');
      const after = await k.apps.readNamespacedDeployment({ namespace, name: 'outage' });
      expect(after.spec?.template).toEqual(before.spec?.template);
    },
  );
});

describe('deletion', () => {
  let operator: InProcessOperator;
  let namespace: string;
  beforeAll(async () => {
    namespace = await newNamespace('deletion');
    operator = await runOperator({ ...storesEnv(), WATCH_NAMESPACES: namespace });
    await apply(namespace, 'keep', { instanceName: `${namespace}-engine-keep` });
    await apply(namespace, 'drop', {
      instanceName: `${namespace}-engine-drop`,
      postgres: { deletionPolicy: 'Delete' },
      redis: { deletionPolicy: 'Delete' },
    });
    for (const name of ['keep', 'drop'])
      await waitForProvisioned(k, namespace, name, { timeoutMs: 90_000 });
  });
  afterAll(() => operator?.stop());

  // deletion-abc123-engine-keep derives schema deletion_abc123_engine_keep and namespace deletion_abc123:keep.
  const names = (instance: string) => ({
    schema: `${namespace.replaceAll('-', '_')}_engine_${instance}`,
    user: `${namespace.replace('-', '_')}:${instance}`,
  });
  const remove = async (name: string) => {
    await k.custom.deleteNamespacedCustomObject({ ...TEI, namespace, name });
    await waitFor(`${name} to be gone`, () =>
      k.custom.getNamespacedCustomObject({ ...TEI, namespace, name }).then(
        () => undefined,
        (error) => (error.code === 404 ? true : undefined),
      ),
    );
  };
  const acl = async (user: string) => {
    const admin = new RedisProvisioner(redis.url);
    try {
      return (await admin.observe(user)).user;
    } finally {
      await admin.close();
    }
  };

  it('Retain keeps the schema, its data and the users, with logins disabled', async () => {
    const { schema, user } = names('keep');
    await adminQuery(
      postgres.url,
      `create table ${schema}.kept (v int); insert into ${schema}.kept values (42)`,
    );
    const admin = new Redis(redis.url);
    await admin.set(`${user}:kept`, 'yes');
    await remove('keep');
    expect((await adminQuery(postgres.url, `select v from ${schema}.kept`)).rows).toEqual([
      { v: 42 },
    ]);
    expect(
      (
        await adminQuery(postgres.url, 'select rolcanlogin from pg_roles where rolname = $1', [
          schema,
        ])
      ).rows,
    ).toEqual([{ rolcanlogin: false }]);
    expect(await admin.get(`${user}:kept`)).toBe('yes');
    admin.disconnect();
    expect(await acl(user)).toMatchObject({ enabled: false, keys: `~${user}:*` });
  });

  it("Delete drops only that instance's schema, role, user and keys", async () => {
    const dropped = names('drop');
    const kept = names('keep');
    const admin = new Redis(redis.url);
    await admin.set(`${dropped.user}:gone`, 'soon');
    await remove('drop');
    const { rows } = await adminQuery(
      postgres.url,
      'select nspname as name from pg_namespace where nspname = any($1) union all select rolname from pg_roles where rolname = any($1)',
      [[dropped.schema, kept.schema]],
    );
    expect(rows.map((row) => row.name)).toEqual([kept.schema, kept.schema]);
    expect(await admin.exists(`${dropped.user}:gone`, `${kept.user}:kept`)).toBe(1);
    admin.disconnect();
    expect(await acl(dropped.user)).toBeUndefined();
    expect(await acl(kept.user)).toBeDefined();
  });
});

describe('the operator process', () => {
  it('converges with nothing duplicated after kill -9 mid-reconcile and a restart', async () => {
    const namespace = await newNamespace('crash');
    const env = { ...storesEnv(), WATCH_NAMESPACES: namespace, LEADER_ELECTION: 'false' };
    const first = await startOperatorProcess(env);
    const names = Array.from({ length: 8 }, (_, i) => `crash-${i}`);
    await applyYaml(
      k,
      names.map((name) => JSON.stringify(teiManifest(namespace, name))).join('\n---\n'),
    );
    await waitFor('the operator to be reconciling', async () =>
      (await first.reconciles()) > 0 ||
      first.logs().some((l) => l.msg === 'caches synced; reconciling')
        ? true
        : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    await first.kill('SIGKILL');

    const second = await startOperatorProcess(env);
    try {
      for (const name of names) await waitForProvisioned(k, namespace, name, { timeoutMs: 90_000 });
      const selector = {
        namespace,
        labelSelector: 'app.kubernetes.io/managed-by=trading-engine-operator',
      };
      expect((await k.apps.listNamespacedDeployment(selector)).items).toHaveLength(names.length);
      // Two Services each: the active engine's and the headless one of every engine.
      expect((await k.core.listNamespacedService(selector)).items).toHaveLength(names.length * 2);
      expect((await k.core.listNamespacedSecret(selector)).items).toHaveLength(names.length);
      const pods = await k.core.listNamespacedPod({ namespace });
      expect(pods.items.filter((pod) => !pod.metadata?.deletionTimestamp)).toHaveLength(
        names.length,
      );
      const roles = await adminQuery(
        postgres.url,
        'select count(*)::int as n from pg_roles where rolname = any($1)',
        [names.map((n) => n.replaceAll('-', '_'))],
      );
      expect(roles.rows[0]?.n).toBe(names.length);
    } finally {
      await second.kill('SIGTERM');
    }
  });

  it('with two replicas, only the leader reconciles, and the other takes over when it dies', async () => {
    const namespace = await newNamespace('leader');
    const env = electionEnv(namespace);
    const a = await startOperatorProcess({ ...env, POD_NAME: 'operator-a' });
    await waitFor('a to lead', async () =>
      a.logs().some((line) => line.msg === 'became leader') ? true : undefined,
    ).catch((error) => {
      throw new Error(`${error.message}\n${JSON.stringify(a.logs().slice(-5))}`);
    });
    const b = await startOperatorProcess({ ...env, POD_NAME: 'operator-b' });
    try {
      await apply(namespace, 'first');
      await waitForProvisioned(k, namespace, 'first', { timeoutMs: 90_000 });
      expect(await a.reconciles()).toBeGreaterThan(0);
      expect(await b.reconciles()).toBe(0);
      expect(b.logs().some((line) => line.msg === 'became leader')).toBe(false);
      expect((await fetch(b.metricsUrl.replace('/metrics', '/readyz'))).status).toBe(200);

      const killed = Date.now();
      await a.kill('SIGKILL');
      await waitFor(
        'b to take over',
        async () => (b.logs().some((line) => line.msg === 'became leader') ? true : undefined),
        { timeoutMs: 40_000 },
      );
      // Not released: b waits until the record has not changed for the lease duration (15 s) by its clock.
      const takeover = Date.now() - killed;
      console.log(`takeover after SIGKILL of the leader: ${takeover} ms`);
      expect(takeover).toBeGreaterThanOrEqual(10_000);
      await apply(namespace, 'second');
      await waitForProvisioned(k, namespace, 'second', { timeoutMs: 90_000 });
      expect(await b.reconciles()).toBeGreaterThan(0);
    } finally {
      await Promise.allSettled([a.kill('SIGTERM'), b.kill('SIGTERM')]);
    }
  });

  it('hands over on SIGTERM in under 5 s: the leader drains, releases the lease and exits 0', async () => {
    const namespace = await newNamespace('handover');
    const env = electionEnv(namespace);
    const a = await startOperatorProcess({ ...env, POD_NAME: 'operator-a' });
    const b = await startOperatorProcess({ ...env, POD_NAME: 'operator-b' });
    try {
      await waitFor('a to lead', async () =>
        a.logs().some((line) => line.msg === 'became leader') ? true : undefined,
      );
      await apply(namespace, 'before');
      await waitForProvisioned(k, namespace, 'before', { timeoutMs: 90_000 });
      // The standby has synced its caches too: it is ready, and takes over warm.
      await waitFor('b to be ready', async () =>
        (await fetch(b.metricsUrl.replace('/metrics', '/readyz'))).status === 200
          ? true
          : undefined,
      );
      expect(b.logs().some((line) => line.msg === 'became leader')).toBe(false);

      const terminated = Date.now();
      await a.kill('SIGTERM');
      const exited = Date.now() - terminated;
      expect(a.process.child.exitCode).toBe(0);
      expect(a.logs().some((line) => line.msg === 'released the lease')).toBe(true);
      await waitFor(
        'b to take over',
        async () => (b.logs().some((line) => line.msg === 'became leader') ? true : undefined),
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      const handover = Date.now() - terminated;
      console.log(
        `handover on SIGTERM: leader exited after ${exited} ms, standby leading after ${handover} ms`,
      );
      expect(handover).toBeLessThan(5_000);
      const lease = await k.kc
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace, name: 'trading-engine-operator' });
      expect(lease.spec?.holderIdentity).toBe('operator-b');

      await apply(namespace, 'after');
      await waitForProvisioned(k, namespace, 'after', { timeoutMs: 90_000 });
      expect(await b.reconciles()).toBeGreaterThan(0);
    } finally {
      await Promise.allSettled([a.kill('SIGTERM'), b.kill('SIGTERM')]);
    }
  });
});

/** Two replicas' shared settings: the stores, one namespace watched, leader election with the Lease there. */
function electionEnv(namespace: string): Record<string, string> {
  return {
    ...storesEnv(),
    WATCH_NAMESPACES: namespace,
    LEADER_ELECTION: 'true',
    LEASE_NAMESPACE: namespace,
  };
}
