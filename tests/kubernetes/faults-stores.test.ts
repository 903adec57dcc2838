import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { convergedIn, type Recorded, record, seedRows } from '../support/faults.ts';
import * as cluster from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { findPostgresBinaries, startLocalPostgres } from '../support/postgres.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';
import type { StoreServer } from '../support/stores.ts';

// The stores restarting under a running operator, and deletions while one is
// down. The stores are this file's own, restarted on the same port: PostgreSQL
// keeps its data directory; the test Redis persists nothing, so a restart
// loses every ACL user, which the operator must put back from the Secrets.
const names = ['ledger', 'book'];
const suffix = randomBytes(3).toString('hex');
const namespace = `stores-${suffix}`;
let postgres: StoreServer;
let redis: StoreServer;
let operator: InProcessOperator;
let k: cluster.Kube;
let before: Recorded;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const apply = (name: string, spec: Record<string, unknown>) =>
  cluster.applyYaml(k, JSON.stringify(cluster.teiManifest(namespace, name, spec)));
const restart = (
  store: StoreServer,
  options: Parameters<NonNullable<StoreServer['restart']>>[0],
) => {
  if (!store.restart) throw new Error(`${store.describe} cannot be restarted`);
  return store.restart(options);
};
/** A field of the Redis server's INFO. */
const serverInfo = async (field: string) => {
  const admin = new Redis(redis.url);
  try {
    return new RegExp(`^${field}:(.*)$`, 'm').exec(await admin.info('server'))?.[1]?.trim();
  } finally {
    admin.disconnect();
  }
};
/** Nothing lost since `before`, but for the objects the case changed on purpose; then the new baseline. */
const expectNothingLost = async (changed: string[] = []) => {
  const current = await record(k, postgres.url, namespace, names);
  const expected = structuredClone(before);
  for (const key of changed) for (const r of [current, expected]) delete r.writes[key];
  expect(current).toEqual(expected);
  before = await record(k, postgres.url, namespace, names);
};

beforeAll(async () => {
  const [pgBinaries, redisBinary] = [findPostgresBinaries(), findRedisServer()];
  if (!pgBinaries || !redisBinary)
    throw new Error('the store faults need postgres and redis-server');
  [postgres, redis] = await Promise.all([
    freePort().then((port) => startLocalPostgres(pgBinaries, { port })),
    freePort().then((port) => startLocalRedis(redisBinary, { port })),
  ]);
  k = cluster.kube(inject('kubeconfig'));
  await cluster.installCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  operator = await runOperator({
    KUBECONFIG: inject('kubeconfig'),
    POSTGRES_ADMIN_URL: postgres.url,
    REDIS_ADMIN_URL: redis.url,
    WATCH_NAMESPACES: namespace,
    // Long enough that no repair measured here can be a resync.
    RESYNC_PERIOD_SECONDS: '300',
  });
  // No pods: pods waiting for the engine lock (all of them, on fake nodes) would bring the
  // instances back every second or so, and hide whether the operator notices a store itself.
  for (const name of names) await apply(name, { replicas: 0 });
  await convergedIn(k, namespace, names, Date.now());
  await seedRows(k, postgres.url, namespace, names);
  before = await record(k, postgres.url, namespace, names);
});

afterAll(async () => {
  await operator?.stop();
  await Promise.allSettled([postgres?.stop(), redis?.stop()]);
});

describe('a store restarted under a running operator', () => {
  it('PostgreSQL: a change made while it is down converges once it is back, its data kept', async () => {
    let sawDown = false;
    let back = 0;
    await restart(postgres, {
      whileDown: async () => {
        await apply('ledger', { replicas: 1 });
        sawDown = await cluster
          .waitForCondition(k, namespace, 'ledger', 'DatabaseReady', 'Unknown', {
            timeoutMs: 15_000,
          })
          .then(
            () => true,
            () => false,
          );
      },
    });
    back = Date.now();
    const took = await convergedIn(k, namespace, names, back);
    console.log(
      `PostgreSQL restart: ${sawDown ? 'DatabaseReady Unknown while down; ' : ''}converged ${seconds(took)} after it was back`,
    );
    expect(sawDown).toBe(true);
    expect(
      (await k.apps.readNamespacedDeployment({ namespace, name: 'ledger' })).spec?.replicas,
    ).toBe(1);
    await expectNothingLost(['Deployment/ledger']);
    await apply('ledger', { replicas: 0 });
    await convergedIn(k, namespace, names, Date.now());
    before = await record(k, postgres.url, namespace, names);
  });

  it('Redis: every ACL user is back promptly with the password in its Secret', async () => {
    const users: { user: string; password: string }[] = [];
    for (const name of names) {
      const secret = await k.core.readNamespacedSecret({ namespace, name: `${name}-credentials` });
      const decode = (key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64').toString();
      users.push({ user: decode('redis-username'), password: decode('redis-password') });
    }
    const runId = () => serverInfo('run_id');
    const previousRun = await runId();
    const stopped = Date.now();
    await restart(redis, { downMs: 1_000 });
    const back = Date.now();
    // A new server process, without persistence: it started with no ACL user but the default one.
    expect(await runId()).not.toBe(previousRun);
    await Promise.all(
      users.map(({ user, password }) =>
        waitFor(
          `${user} to log in again`,
          async () => {
            const client = new Redis(redis.url, { username: user, password, lazyConnect: true });
            client.on('error', () => {});
            try {
              await client.connect();
              return (await client.ping()) === 'PONG' ? true : undefined;
            } finally {
              client.disconnect();
            }
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        ),
      ),
    );
    const took = Date.now() - back;
    console.log(
      `Redis restart (no persistence, down ${seconds(back - stopped)}): every tenant logs in again with its password ${seconds(took)} after Redis answered PING (resync: 300 s)`,
    );
    await convergedIn(k, namespace, names, back);
    await expectNothingLost();
  });
});

describe('deletion with a store down', () => {
  it.each([
    ['postgres', 'PostgreSQL', () => postgres],
    ['redis', 'Redis', () => redis],
  ] as const)(
    '%s: Terminating with DeletionBlocked and an Event saying why; the abandon annotation lets it go',
    async (store, label, server) => {
      const name = `doomed-${store}`;
      await apply(name, { replicas: 0 });
      await convergedIn(k, namespace, [name], Date.now());
      await restart(server(), {
        whileDown: async () => {
          await k.custom.deleteNamespacedCustomObject({ ...cluster.TEI, namespace, name });
          const blocked = await cluster.waitForCondition(k, namespace, name, 'Ready', 'False', {
            reason: 'DeletionBlocked',
          });
          expect((await cluster.getInstance(k, namespace, name)).metadata).toHaveProperty(
            'deletionTimestamp',
          );
          expect(cluster.condition(blocked, 'Ready')?.message).toMatch(
            new RegExp(`deletion waits for ${label}`),
          );
          const events = await k.core.listNamespacedEvent({
            namespace,
            fieldSelector: `involvedObject.name=${name}`,
          });
          expect(events.items.map((event) => event.reason)).toContain('DeletionBlocked');
          const annotated = Date.now();
          await k.custom.patchNamespacedCustomObject(
            {
              ...cluster.TEI,
              namespace,
              name,
              body: { metadata: { annotations: { 'trading.tse.io/abandon-stores': store } } },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
          await waitFor(
            `${name} to be gone`,
            () =>
              cluster.getInstance(k, namespace, name).then(
                () => undefined,
                (error) => ((error as { code?: number }).code === 404 ? true : undefined),
              ),
            { timeoutMs: 90_000, intervalMs: 100 },
          );
          console.log(
            `deletion with ${label} down: blocked with a reason; gone ${seconds(Date.now() - annotated)} after the abandon annotation`,
          );
          await sleep(0);
        },
      });
      // The others are back to converged, their data untouched.
      await convergedIn(k, namespace, names, Date.now());
      await expectNothingLost();
    },
  );
});
