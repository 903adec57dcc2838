import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useDatabase } from '../support/fixtures.ts';
import * as cluster from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';
import type { StoreServer } from '../support/stores.ts';

// What users could not see before: objects the API server refuses, deletions
// that cannot finish, a Redis that restarted; and what the operator must not
// do: regenerate credentials a cache misses, or fight another manager's fields.
const database = useDatabase();
const suffix = randomBytes(3).toString('hex');
const namespace = `failures-${suffix}`;
const doomed = `failures-gone-${suffix}`;
const REDIS_PASSWORD = randomBytes(12).toString('hex');
let k: cluster.Kube;
let operator: InProcessOperator;
let ownRedis: StoreServer | undefined;
let redisPort: number;

const apply = (ns: string, name: string, spec: Record<string, unknown>) =>
  cluster.applyYaml(k, JSON.stringify(cluster.teiManifest(ns, name, spec)));
const events = async (ns: string, name: string) =>
  (
    await k.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${name}`,
    })
  ).items;
const gone = (ns: string, name: string, timeoutMs = 60_000) =>
  waitFor(
    `${ns}/${name} to be gone`,
    () =>
      cluster.getInstance(k, ns, name).then(
        () => undefined,
        (error) => ((error as { code?: number }).code === 404 ? true : undefined),
      ),
    { timeoutMs, intervalMs: 250 },
  );
const deleteInstance = (ns: string, name: string) =>
  k.custom.deleteNamespacedCustomObject({ ...cluster.TEI, namespace: ns, name });
const annotate = (ns: string, name: string, annotations: Record<string, string>) =>
  k.custom.patchNamespacedCustomObject(
    { ...cluster.TEI, namespace: ns, name, body: { metadata: { annotations } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
const adminSecret = (ns: string, name: string, data: Record<string, string>) =>
  k.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: data } });
/** An instance whose `store` is reached through the admin Secret `secret` (key `url`), provisioned. */
const provisionedOn = async (
  ns: string,
  name: string,
  store: 'postgres' | 'redis',
  secret: string,
  extra: Record<string, unknown> = {},
) => {
  const spec = { instanceName: `${ns}-engine-${name.toUpperCase()}`, ...extra };
  await apply(ns, name, { ...spec, [store]: { adminSecretRef: { name: secret, key: 'url' } } });
  return cluster.waitForCondition(k, ns, name, 'DatabaseReady', 'True', { timeoutMs: 90_000 });
};
const startOwnRedis = async () => {
  const binary = findRedisServer();
  if (!binary) throw new Error('no redis-server binary: the Redis restart test needs one');
  ownRedis = await startLocalRedis(binary, { port: redisPort, password: REDIS_PASSWORD });
  return ownRedis;
};

beforeAll(async () => {
  k = cluster.kube(inject('kubeconfig'));
  await cluster.installCrd(k);
  for (const name of [namespace, doomed])
    await k.core.createNamespace({ body: { metadata: { name } } });
  redisPort = await freePort();
  await startOwnRedis();
  // A resync long enough that a prompt repair after a Redis restart cannot be one.
  const watched = { WATCH_NAMESPACES: `${namespace},${doomed}`, RESYNC_PERIOD_SECONDS: '20' };
  const stores = { POSTGRES_ADMIN_URL: database.url, REDIS_ADMIN_URL: inject('redisUrl') };
  operator = await runOperator({ KUBECONFIG: inject('kubeconfig'), ...stores, ...watched });
});

afterAll(async () => {
  await operator?.stop();
  await ownRedis?.stop();
});

describe('an owned object the API server refuses', () => {
  it('is Ready False ApplyFailed naming it and what the API server said, with a Warning; retried with backoff; recovers once fixed', async () => {
    const spec = { instanceName: `${namespace}-engine-AF` };
    const invalid = {
      ...spec,
      pod: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] },
          },
        },
      },
    };
    await apply(namespace, 'affinity', invalid);
    const refused = await cluster.waitForCondition(k, namespace, 'affinity', 'Ready', 'False', {
      reason: 'ApplyFailed',
    });
    const message = cluster.condition(refused, 'Ready')?.message ?? '';
    expect(message).toMatch(/the API server refused Deployment "affinity" \(422\)/);
    expect(message).toMatch(/nodeSelectorTerms/);
    // The stores were provisioned: only the Deployment is missing.
    expect(cluster.condition(refused, 'DatabaseReady')?.status).toBe('True');
    await waitFor('the ApplyFailed Warning', async () =>
      (await events(namespace, 'affinity')).some(
        (event) => event.reason === 'ApplyFailed' && event.type === 'Warning',
      )
        ? true
        : undefined,
    );
    // Not retried in a tight loop: 5 s, then 10 s, then 20 s...
    const before = operator.writer.writes.get('Deployment') ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const attempts = (operator.writer.writes.get('Deployment') ?? 0) - before;
    console.log(`ApplyFailed: ${attempts} Deployment write attempts in 12 s`);
    expect(attempts).toBeLessThanOrEqual(3);

    await apply(namespace, 'affinity', spec);
    await cluster.waitForProvisioned(k, namespace, 'affinity', { timeoutMs: 90_000 });
  });
});

describe('drift', () => {
  it("keeps kubectl rollout restart's annotation and writes nothing at resync when quantities differ only in form", async () => {
    await apply(namespace, 'restart', {
      instanceName: `${namespace}-engine-RS`,
      resources: {
        requests: { cpu: '0.05', memory: '64Mi' },
        limits: { cpu: '0.5', memory: '0.125Gi' },
      },
    });
    await cluster.waitForProvisioned(k, namespace, 'restart', { timeoutMs: 90_000 });
    const deployment = await k.apps.readNamespacedDeployment({ namespace, name: 'restart' });
    // The API server keeps its canonical form: what we sent is not what we read back.
    expect(deployment.spec?.template.spec?.containers[0]?.resources?.limits?.cpu).toBe('500m');
    const restartedAt = new Date().toISOString();
    await k.apps.patchNamespacedDeployment(
      {
        namespace,
        name: 'restart',
        fieldManager: 'kubectl-rollout',
        body: {
          spec: {
            template: {
              metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': restartedAt } },
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const before = operator.writer.writes.get('Deployment') ?? 0;
    // The patch itself brings a reconcile (the Deployment changed), then a resync (20 s ±10%).
    await new Promise((resolve) => setTimeout(resolve, 23_000));
    const after = await k.apps.readNamespacedDeployment({ namespace, name: 'restart' });
    expect(after.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toBe(
      restartedAt,
    );
    expect((operator.writer.writes.get('Deployment') ?? 0) - before).toBe(0);
  });
});

describe('credentials', () => {
  it('an instance whose Secret is missing from the cache but present in the API server keeps its passwords', async () => {
    await apply(namespace, 'keep', { instanceName: `${namespace}-engine-KP` });
    await cluster.waitForProvisioned(k, namespace, 'keep', { timeoutMs: 90_000 });
    const read = async () =>
      (await k.core.readNamespacedSecret({ namespace, name: 'keep-credentials' })).data ?? {};
    const original = await read();
    expect(Object.keys(original)).toContain('postgres-password');
    // Without the operator's label the Secret leaves its (label-scoped) cache; it is still there.
    await k.core.patchNamespacedSecret(
      {
        namespace,
        name: 'keep-credentials',
        body: [{ op: 'remove', path: '/metadata/labels/app.kubernetes.io~1managed-by' }],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    // A spec change makes the operator look at once.
    await apply(namespace, 'keep', { instanceName: `${namespace}-engine-KP`, logLevel: 'debug' });
    const relabelled = await waitFor('the operator to put its label back', async () => {
      const secret = await k.core.readNamespacedSecret({ namespace, name: 'keep-credentials' });
      return secret.metadata?.labels?.['app.kubernetes.io/managed-by'] ? secret : undefined;
    });
    for (const key of ['postgres-password', 'redis-password', 'api-token', 'api-read-token'])
      expect(relabelled.data?.[key], key).toBe(original[key]);
    await cluster.waitForProvisioned(k, namespace, 'keep');
  });
});

describe('a Redis restart', () => {
  it("puts the instance's ACL user back within seconds, not at its next resync", async () => {
    const redisUrl = `redis://default:${REDIS_PASSWORD}@127.0.0.1:${redisPort}`;
    await adminSecret(namespace, 'own-redis', { url: redisUrl });
    // No pods: pods waiting for the lock (all of them, on fake nodes) bring the instance back every
    // second or so, which would hide whether the restart itself is noticed.
    await provisionedOn(namespace, 'restarted', 'redis', 'own-redis', { replicas: 0 });
    const provisioned = await cluster.waitForCondition(k, namespace, 'restarted', 'Ready', 'True', {
      timeoutMs: 90_000,
    });
    const user = provisioned.status?.identity?.redisNamespace as string;
    const client = new Redis(redisUrl);
    expect(await client.call('ACL', 'GETUSER', user)).not.toBeNull();
    client.disconnect();

    await ownRedis?.stop();
    const started = Date.now();
    await startOwnRedis();
    const restartedIn = Date.now() - started;
    // The Redis keeps nothing on disk: the restart lost every ACL user (the operator may already
    // have put this one back by the time a client could look, so that is not asserted).
    const fresh = new Redis(redisUrl);
    try {
      await waitFor(
        `ACL user ${user} to be back`,
        async () => ((await fresh.call('ACL', 'GETUSER', user)) !== null ? true : undefined),
        { timeoutMs: 15_000, intervalMs: 50 },
      );
    } finally {
      fresh.disconnect();
    }
    const backIn = Date.now() - started - restartedIn;
    console.log(
      `Redis restart: server up again in ${restartedIn} ms; ACL user back ${backIn} ms after that (a resync would take up to 22 s here, 5.5 min by default)`,
    );
    expect(backIn).toBeLessThan(3000);
    await cluster.waitForCondition(k, namespace, 'restarted', 'CacheReady', 'True');
  });
});

describe('deletion', () => {
  it('with its admin Secret gone is DeletionBlocked saying so, and goes once the Secret is back', async () => {
    await adminSecret(namespace, 'pg-admin', { url: database.url });
    await provisionedOn(namespace, 'orphan', 'postgres', 'pg-admin');
    await k.core.deleteNamespacedSecret({ namespace, name: 'pg-admin' });
    await deleteInstance(namespace, 'orphan');
    const blocked = await cluster.waitForCondition(k, namespace, 'orphan', 'Ready', 'False', {
      reason: 'DeletionBlocked',
    });
    const message = cluster.condition(blocked, 'Ready')?.message ?? '';
    expect(message).toMatch(/deletion waits for the PostgreSQL admin connection/);
    expect(message).toMatch(/Secret .*\/pg-admin does not exist \(restore the Secret\)/);
    expect(message).toMatch(/trading\.tse\.io\/abandon-stores=true/);
    const reasons = (await events(namespace, 'orphan')).map((event) => event.reason);
    expect(reasons).toContain('Deleting');
    expect(reasons).toContain('DeletionBlocked');

    await adminSecret(namespace, 'pg-admin', { url: database.url });
    await gone(namespace, 'orphan');
    expect((await events(namespace, 'orphan')).map((event) => event.reason)).toContain('Finalized');
  });

  it('with its store down is DeletionBlocked; the abandon annotation lets it go with a Warning of what is left', async () => {
    await provisionedOn(namespace, 'abandoned', 'redis', 'own-redis');
    await cluster.waitForCondition(k, namespace, 'abandoned', 'CacheReady', 'True');
    await ownRedis?.stop();
    ownRedis = undefined;
    await deleteInstance(namespace, 'abandoned');
    const blocked = await cluster.waitForCondition(k, namespace, 'abandoned', 'Ready', 'False', {
      reason: 'DeletionBlocked',
    });
    expect(cluster.condition(blocked, 'Ready')?.message).toMatch(
      /deletion waits for Redis to be reachable: .* \(done: PostgreSQL schema .* kept, login disabled\)/,
    );

    await annotate(namespace, 'abandoned', { 'trading.tse.io/abandon-stores': 'redis' });
    await gone(namespace, 'abandoned');
    const warning = (await events(namespace, 'abandoned')).find(
      (event) => event.reason === 'StoresAbandoned',
    );
    expect(warning?.type).toBe('Warning');
    expect(warning?.message).toMatch(
      /the finalizer comes off without cleaning up Redis ACL user ".*" \(still enabled\) and the keys under .*:\* on the server of Secret own-redis/,
    );
  });

  it('in a namespace being deleted whose admin Secret went first says so and how to get out', async () => {
    await adminSecret(doomed, 'pg-admin', { url: database.url });
    await provisionedOn(doomed, 'last', 'postgres', 'pg-admin');
    // The namespace controller deletes everything at once: the Secret may go first. Make sure it does.
    await k.core.deleteNamespacedSecret({ namespace: doomed, name: 'pg-admin' });
    await k.core.deleteNamespace({ name: doomed });
    const blocked = await waitForInstanceMessage(doomed, 'last', /is being deleted/);
    expect(blocked).toMatch(
      new RegExp(
        `namespace ${doomed} is being deleted and its Secrets went before this instance, so the operator cannot reach PostgreSQL to clean up, and the namespace stays Terminating until this instance goes`,
      ),
    );
    expect(blocked).toMatch(/annotate the instance trading\.tse\.io\/abandon-stores=true/);
    const terminating = await k.core.readNamespace({ name: doomed });
    expect(terminating.status?.phase).toBe('Terminating');

    await annotate(doomed, 'last', { 'trading.tse.io/abandon-stores': 'true' });
    await waitFor(
      `namespace ${doomed} to be gone`,
      () =>
        k.core.readNamespace({ name: doomed }).then(
          () => undefined,
          (error) => ((error as { code?: number }).code === 404 ? true : undefined),
        ),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  });
});

/** The Ready message of an instance once it matches (the object may be Terminating). */
async function waitForInstanceMessage(ns: string, name: string, pattern: RegExp): Promise<string> {
  return waitFor(
    `${ns}/${name} Ready message ${pattern}`,
    async () => {
      const message =
        cluster.condition(await cluster.getInstance(k, ns, name), 'Ready')?.message ?? '';
      return pattern.test(message) ? message : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
