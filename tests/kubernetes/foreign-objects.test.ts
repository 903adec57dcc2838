import { randomBytes } from 'node:crypto';
import { KubeClient, KubeWriter, loadClusterAccess } from '@tse/operator';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useDatabase } from '../support/fixtures.ts';
import {
  applyYaml,
  condition,
  installCrd,
  type Kube,
  kube,
  TEI,
  teiManifest,
  waitForCondition,
} from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';

// Someone with rights in the instance's namespace (or in another one) got
// there first: the operator must take nothing it does not control, and say so.
const database = useDatabase();
const suffix = randomBytes(3).toString('hex');
const namespace = `foreign-${suffix}`;
const elsewhere = `foreign-other-${suffix}`;
const MALFORMED_PASSWORD = `Malformed${randomBytes(8).toString('hex')}`;
let k: Kube;
let operator: InProcessOperator;
let redis: Redis;

const apply = (ns: string, name: string, spec: Record<string, unknown>) =>
  applyYaml(k, JSON.stringify(teiManifest(ns, name, spec)));
const eventReasons = async (ns: string, name: string) =>
  (
    await k.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${name}`,
    })
  ).items.map((event) => event.reason);

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  redis = new Redis(inject('redisUrl'));
  await installCrd(k);
  for (const name of [namespace, elsewhere])
    await k.core.createNamespace({ body: { metadata: { name } } });
  operator = await runOperator({
    KUBECONFIG: inject('kubeconfig'),
    POSTGRES_ADMIN_URL: database.url,
    REDIS_ADMIN_URL: inject('redisUrl'),
    WATCH_NAMESPACES: `${namespace},${elsewhere}`,
    RESYNC_PERIOD_SECONDS: '5',
  });
});

afterAll(async () => {
  await operator?.stop();
  redis?.disconnect();
});

describe('an object of the name the instance needs, not controlled by it', () => {
  it('a Secret <name>-credentials is refused, left as it was, and taken once it is gone', async () => {
    await k.core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'squat-credentials' }, stringData: { mine: 'keep' } },
    });
    await apply(namespace, 'squat', { instanceName: `${namespace}-engine-SQ` });
    const refused = await waitForCondition(k, namespace, 'squat', 'Ready', 'False', {
      reason: 'ForeignObject',
    });
    expect(condition(refused, 'Ready')?.message).toMatch(
      /Secret "squat-credentials" already exists in namespace .* not controlled by this instance; nothing was changed/,
    );
    expect(await eventReasons(namespace, 'squat')).toContain('ForeignObject');
    const secret = await k.core.readNamespacedSecret({ namespace, name: 'squat-credentials' });
    expect(secret.metadata?.ownerReferences).toBeUndefined();
    expect(Object.keys(secret.data ?? {})).toEqual(['mine']);

    await k.core.deleteNamespacedSecret({ namespace, name: 'squat-credentials' });
    await waitForCondition(k, namespace, 'squat', 'DatabaseReady', 'True', { timeoutMs: 60_000 });
  });

  it('a Service <name> is refused and left without our owner reference', async () => {
    await k.core.createNamespacedService({
      namespace,
      body: {
        metadata: {
          name: 'svc',
          labels: { 'app.kubernetes.io/managed-by': 'trading-engine-operator' },
        },
        spec: { ports: [{ name: 'web', port: 8080 }], selector: { app: 'theirs' } },
      },
    });
    await apply(namespace, 'svc', { instanceName: `${namespace}-engine-SV` });
    await waitForCondition(k, namespace, 'svc', 'Ready', 'False', { reason: 'ForeignObject' });
    expect(await eventReasons(namespace, 'svc')).toContain('ForeignObject');
    const service = await k.core.readNamespacedService({ namespace, name: 'svc' });
    expect(service.metadata?.ownerReferences).toBeUndefined();
    expect(service.spec?.ports?.map((port) => port.port)).toEqual([8080]);
    expect(service.spec?.selector).toEqual({ app: 'theirs' });
  });
});

describe("the operator's create", () => {
  it('creates only a free name, owned by its apply, and leaves an object in the way untouched', async () => {
    const writer = new KubeWriter(
      new KubeClient(loadClusterAccess(inject('kubeconfig')), { requestTimeoutMs: 10_000 }),
    );
    const managed = { 'app.kubernetes.io/managed-by': 'trading-engine-operator' };
    const configMap = (name: string, data: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels: managed },
      data,
    });
    // A free name: created, its fields owned by the operator's apply alone.
    await writer.create(configMap('created', { a: '1', b: '2' }));
    const created = await k.core.readNamespacedConfigMap({ namespace, name: 'created' });
    expect(created.metadata?.managedFields?.map((f) => [f.manager, f.operation])).toEqual([
      ['trading-engine-operator', 'Apply'],
    ]);
    // So a later apply that drops a field removes it.
    await writer.apply(configMap('created', { a: '1' }));
    expect((await k.core.readNamespacedConfigMap({ namespace, name: 'created' })).data).toEqual({
      a: '1',
    });
    // Taken, by an object that shares none of its fields (an apply without force would merge
    // into it and take it over): a 409, and nothing written.
    const theirs = await k.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'taken' }, data: { theirs: 'x' } },
    });
    await expect(writer.create(configMap('taken', { a: '1' }))).rejects.toMatchObject({
      code: 409,
    });
    const after = await k.core.readNamespacedConfigMap({ namespace, name: 'taken' });
    expect(after.metadata?.resourceVersion).toBe(theirs.metadata?.resourceVersion);
    expect(after.metadata?.labels).toBeUndefined();
    expect(after.data).toEqual({ theirs: 'x' });
    // A Service too (some API servers refused a resourceVersion on creating one).
    const service = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels: managed },
      spec: { ports: [{ name: 'grpc', port: 50051 }] },
    });
    expect((await writer.create(service('created-svc'))).metadata?.name).toBe('created-svc');
    await expect(writer.create(service('created-svc'))).rejects.toMatchObject({ code: 409 });
  });
});

describe('store names that are not ours', () => {
  it('a Redis namespace with keys already in it is refused until adoption is asked for', async () => {
    const keys = `foreign${suffix}:data`;
    await redis.set(`${keys}:existing`, 'theirs');
    const spec = { instanceName: `${namespace}-engine-RK`, redis: { namespace: keys } };
    await apply(namespace, 'keys', spec);
    const refused = await waitForCondition(k, namespace, 'keys', 'CacheReady', 'False', {
      reason: 'RedisNotOwned',
    });
    expect(condition(refused, 'CacheReady')?.message).toMatch(/adoptExistingKeys/);
    expect(await eventReasons(namespace, 'keys')).toContain('RedisNotOwned');
    expect(await redis.get(`${keys}:existing`)).toBe('theirs');

    await apply(namespace, 'keys', { ...spec, redis: { ...spec.redis, adoptExistingKeys: true } });
    await waitForCondition(k, namespace, 'keys', 'CacheReady', 'True', { timeoutMs: 60_000 });
  });

  it('a name held in another namespace is refused without saying who holds it', async () => {
    const instanceName = `x${suffix}-system-engine-HELD`;
    await apply(namespace, 'holder', { instanceName });
    await waitForCondition(k, namespace, 'holder', 'DatabaseReady', 'True', { timeoutMs: 60_000 });
    await apply(elsewhere, 'taker', { instanceName });
    const refused = await waitForCondition(k, elsewhere, 'taker', 'Ready', 'False', {
      reason: 'NameConflict',
    });
    const message = condition(refused, 'Ready')?.message ?? '';
    expect(message).toMatch(/already held by an instance in another namespace/);
    expect(message).not.toContain(namespace);
    expect(message).not.toContain('holder');
  });
});

describe('a squatter', () => {
  it('that never provisions holds no name: a later instance gets it and keeps it', async () => {
    const instanceName = `s${suffix}-system-engine-SQUAT`;
    // The same servers as everyone's, with admin passwords that do not work.
    const wrong = (url: string) => {
      const parsed = new URL(url);
      parsed.password = 'not-the-admin-password';
      return parsed.toString();
    };
    await k.core.createNamespacedSecret({
      namespace: elsewhere,
      body: {
        metadata: { name: 'squatter-admin' },
        stringData: { postgres: wrong(database.url), redis: wrong(inject('redisUrl')) },
      },
    });
    const squatter = {
      instanceName,
      postgres: { adminSecretRef: { name: 'squatter-admin', key: 'postgres' } },
      redis: { adminSecretRef: { name: 'squatter-admin', key: 'redis' } },
    };
    await apply(elsewhere, 'squatter', squatter);
    await waitForCondition(k, elsewhere, 'squatter', 'DatabaseReady', 'False');
    await waitForCondition(k, elsewhere, 'squatter', 'CacheReady', 'False');
    await apply(namespace, 'rightful', { instanceName });
    await waitForCondition(k, namespace, 'rightful', 'DatabaseReady', 'True', {
      timeoutMs: 60_000,
    });
    await waitForCondition(k, namespace, 'rightful', 'CacheReady', 'True', { timeoutMs: 60_000 });

    // With working admin credentials the squatter meets the rightful holder's markers.
    await k.core.replaceNamespacedSecret({
      namespace: elsewhere,
      name: 'squatter-admin',
      body: {
        metadata: { name: 'squatter-admin' },
        stringData: { postgres: database.url, redis: inject('redisUrl') },
      },
    });
    await apply(elsewhere, 'squatter', { ...squatter, logLevel: 'debug' });
    await waitForCondition(k, elsewhere, 'squatter', 'Ready', 'False', { reason: 'NameConflict' });
  });
});

describe('credentials', () => {
  it('a malformed admin URL is refused without echoing its password', async () => {
    await k.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'bad-admin' },
        stringData: { url: `postgres://admin:${MALFORMED_PASSWORD}@[broken/db` },
      },
    });
    await apply(namespace, 'badurl', {
      instanceName: `${namespace}-engine-BU`,
      postgres: { adminSecretRef: { name: 'bad-admin', key: 'url' } },
    });
    const refused = await waitForCondition(k, namespace, 'badurl', 'Ready', 'False', {
      reason: 'AdminSecretMissing',
    });
    expect(condition(refused, 'Ready')?.message).toMatch(
      /Secret .*\/bad-admin key "url" is not a postgres:\/\/ or postgresql:\/\/ URL \(postgres:\/\/\*\*\*@\[broken\/db\)/,
    );
  });

  it("an admin URL that names a file of the operator's, or contradicts its CA, is refused saying why", async () => {
    await k.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'tls-admin' },
        stringData: {
          postgres: `postgres://admin:${MALFORMED_PASSWORD}@db:5432/app?sslmode=verify-full&sslrootcert=/var/run/secrets/kubernetes.io/serviceaccount/token`,
          redis: `redis://admin:${MALFORMED_PASSWORD}@cache:6379`,
          'ca.crt': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        },
      },
    });
    await apply(namespace, 'readfile', {
      instanceName: `${namespace}-engine-RF`,
      postgres: { adminSecretRef: { name: 'tls-admin', key: 'postgres' } },
    });
    await apply(namespace, 'plainca', {
      instanceName: `${namespace}-engine-PC`,
      redis: { adminSecretRef: { name: 'tls-admin', key: 'redis', caKey: 'ca.crt' } },
    });
    const readFile = await waitForCondition(k, namespace, 'readfile', 'Ready', 'False', {
      reason: 'AdminSecretMissing',
    });
    expect(condition(readFile, 'Ready')?.message).toMatch(
      /tls-admin key "postgres": sslrootcert names a file in the operator's filesystem; put the CA bundle in the Secret and name its key in caKey/,
    );
    const plain = await waitForCondition(k, namespace, 'plainca', 'Ready', 'False', {
      reason: 'AdminSecretMissing',
    });
    expect(condition(plain, 'Ready')?.message).toMatch(
      /tls-admin key "redis" "redis:\/\/" is invalid: a CA is given, so TLS must be on: use a rediss:\/\/ URL/,
    );
    expect(await eventReasons(namespace, 'plainca')).toContain('AdminSecretMissing');
  });

  it('appear in no log line, Event or status this run produced', async () => {
    const passwords = new Set([MALFORMED_PASSWORD]);
    for (const url of [database.url, inject('redisUrl')]) {
      const { password } = new URL(url);
      if (password) passwords.add(decodeURIComponent(password));
    }
    for (const ns of [namespace, elsewhere]) {
      for (const secret of (await k.core.listNamespacedSecret({ namespace: ns })).items) {
        if (!secret.metadata?.name?.endsWith('-credentials')) continue;
        for (const key of ['postgres-password', 'redis-password']) {
          const value = secret.data?.[key];
          if (value) passwords.add(Buffer.from(value, 'base64').toString('utf8'));
        }
      }
    }
    expect(passwords.size).toBeGreaterThan(4);
    const produced = [JSON.stringify(operator.logs)];
    for (const ns of [namespace, elsewhere]) {
      produced.push(JSON.stringify((await k.core.listNamespacedEvent({ namespace: ns })).items));
      produced.push(
        JSON.stringify(await k.custom.listNamespacedCustomObject({ ...TEI, namespace: ns })),
      );
    }
    const everything = produced.join('\n');
    expect(operator.logs.length).toBeGreaterThan(10);
    for (const password of passwords) expect(everything).not.toContain(password);
  });
});
