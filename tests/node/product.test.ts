// The product as users run it, on a real node: the chart installed with the
// built images, the operator as pods, the seed's instances as engine pods
// whose kubelet probes decide readiness, traffic through Services.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresConnection, postgresTls } from '@tse/adapter';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPki } from '../cluster/pki.ts';
import {
  applyExamples,
  EXAMPLES_NAMESPACE,
  installProduct,
  RELEASE,
  SYSTEM_NAMESPACE,
} from '../support/install.ts';
import { fetchInNode, getJson, helm, kubectl, ok } from '../support/node-tools.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';
import { waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';

const SYSTEM = SYSTEM_NAMESPACE;
const TRADING = EXAMPLES_NAMESPACE;
const SEED = [
  {
    name: 'trading-system-engine',
    instance: 'trading-system-engine',
    schema: 'trading',
    namespace: 'trading',
  },
  {
    name: 'lh',
    instance: 'trading-system-engine-LH',
    schema: 'trading_system_engine_lh',
    namespace: 'trading_system:LH',
  },
  {
    name: 'alpha',
    instance: 'trading-system-engine-Alpha',
    schema: 'trading_system_engine_alpha',
    namespace: 'trading_system:Alpha',
  },
];

type Condition = { type: string; status: string; reason: string; message: string };
type Instance = {
  metadata: { name: string };
  status?: {
    conditions?: Condition[];
    activeEngine?: string;
    standbyReplicas?: number;
    observedGeneration?: number;
  };
};
type Pod = {
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { nodeName?: string; containers: { image: string }[] };
  status: { phase: string; podIP?: string; conditions?: Condition[] };
};

const instance = (name: string) => getJson<Instance>(['tei', name, '-n', TRADING]);
const ready = (item: Instance) => item.status?.conditions?.find((c) => c.type === 'Ready');
const podsOf = (name: string) =>
  getJson<{ items: Pod[] }>(['pods', '-n', TRADING, '-l', `trading.tse.io/instance=${name}`]).items;
const podReady = (pod: Pod) =>
  pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function waitForReady(name: string, timeoutMs = 180_000): Promise<Instance> {
  let last: Instance | undefined;
  try {
    return await waitFor(
      `${name} to be Ready`,
      async () => {
        last = instance(name);
        return ready(last)?.status === 'True' ? last : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\nlast status: ${JSON.stringify(last?.status)}`);
  }
}

function health(name: string) {
  const service = getJson<{ spec: { clusterIP: string } }>(['service', name, '-n', TRADING]);
  const answer = fetchInNode(`http://${service.spec.clusterIP}:8083/api/v1/health`);
  return { status: answer.status, body: answer.status ? JSON.parse(answer.body) : undefined };
}

/** Waits until a single-engine instance runs a new pod, active and Ready. */
function waitForReplacement(name: string, before: Pod | undefined) {
  return waitFor(
    `${name} to run a new pod, active and Ready`,
    async () => {
      const pods = podsOf(name).filter((pod) => !pod.metadata.deletionTimestamp);
      const item = instance(name);
      return pods.length === 1 &&
        pods[0]?.metadata.uid !== before?.metadata.uid &&
        ready(item)?.status === 'True' &&
        item.status?.activeEngine === pods[0]?.metadata.name
        ? true
        : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
}

/** The health the Service answers with once it routes to a ready, active engine (kube-proxy follows the endpoints). */
function healthOnceServed(name: string) {
  return waitFor(
    `${name}'s Service to answer from the active engine`,
    async () => {
      const answer = health(name);
      return answer.status === 200 && answer.body?.role === 'active' ? answer.body : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

beforeAll(() => {
  const tools = {
    kubeconfig: inject('kubeconfig'),
    kubectl: inject('kubectl'),
    helm: inject('helm'),
  };
  installProduct(tools, {
    images: inject('images'),
    stores: inject('stores'),
    // Resync often, so that the drift and store checks of this short run are seen.
    values: ['reconcile.resyncSeconds=30'],
  });
  applyExamples(tools);
});

afterAll(() => {
  // Uninstall as a user would (instances first, while the operator runs their
  // finalizers), so that other files find the cluster as they would a fresh one.
  kubectl(['delete', 'tei', '--all', '-n', TRADING, '--timeout=120s']);
  helm(['uninstall', RELEASE, '-n', SYSTEM, '--wait', '--timeout', '120s']);
  kubectl(['delete', 'namespace', TRADING, SYSTEM, '--timeout=120s']);
});

describe('installed with helm on a real node', () => {
  it('runs the operator as pods from the built image, one of them leading', async () => {
    const pods = getJson<{ items: Pod[] }>([
      'pods',
      '-n',
      SYSTEM,
      '-l',
      'app.kubernetes.io/name=trading-engine-operator',
    ]).items;
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(pod.spec.nodeName).toBe(inject('nodeName'));
      expect(pod.spec.containers[0]?.image).toBe(inject('images').operator);
      expect(podReady(pod)).toBe(true);
    }
    const lease = getJson<{ spec: { holderIdentity: string } }>([
      'lease',
      '-n',
      SYSTEM,
      'teo-trading-engine-operator',
    ]);
    expect(pods.map((pod) => pod.metadata.name)).toContain(lease.spec.holderIdentity);
  });

  it.each(SEED)(
    'makes $name Ready, its engine pods running the built image with kubelet probing them',
    async (seed) => {
      await waitForReady(seed.name);
      const pods = podsOf(seed.name);
      expect(pods.length).toBeGreaterThan(0);
      for (const pod of pods) {
        expect(pod.spec.nodeName).toBe(inject('nodeName'));
        expect(pod.spec.containers[0]?.image).toBe(inject('images').engine);
        expect(pod.status.phase).toBe('Running');
      }
    },
  );

  it.each(SEED)("answers $name's health through its Service with the identity", async (seed) => {
    expect(await healthOnceServed(seed.name)).toMatchObject({
      status: 'healthy',
      service: 'trading-system-engine',
      instance: seed.instance,
      postgres_schema: seed.schema,
      redis_namespace: seed.namespace,
      role: 'active',
      environment: expect.any(String),
    });
  });

  it('keeps a hot standby for alpha: one active engine behind the Service, the other ready to take over', async () => {
    const alpha = await waitFor('alpha to show its standby', async () => {
      const item = instance('alpha');
      return item.status?.standbyReplicas === 1 ? item : undefined;
    });
    const pods = podsOf('alpha');
    expect(pods).toHaveLength(2);
    expect(pods.every(podReady)).toBe(true);
    const active = pods.find((pod) => pod.metadata.labels?.['trading.tse.io/role'] === 'active');
    const standby = pods.find((pod) => pod.metadata.labels?.['trading.tse.io/role'] === 'standby');
    expect(active?.metadata.name).toBe(alpha.status?.activeEngine);
    expect(standby).toBeDefined();
    const slices = getJson<{ items: { endpoints?: { addresses: string[] }[] }[] }>([
      'endpointslices',
      '-n',
      TRADING,
      '-l',
      'kubernetes.io/service-name=alpha',
    ]).items;
    expect(slices.flatMap((slice) => slice.endpoints ?? []).flatMap((e) => e.addresses)).toEqual([
      active?.status.podIP,
    ]);
    // Voluntary disruptions (a drain) take one engine of alpha at a time; lh, alone, has no budget.
    const budget = getJson<{
      spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
      metadata: { ownerReferences: { kind: string; name: string }[] };
    }>(['poddisruptionbudget', 'alpha', '-n', TRADING]);
    expect(budget.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'trading.tse.io/instance': 'alpha' } },
    });
    expect(budget.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'TradingEngineInstance', name: 'alpha' }),
    ]);
    expect(kubectl(['get', 'poddisruptionbudget', 'lh', '-n', TRADING]).status).not.toBe(0);
    const wide = ok(kubectl(['get', 'tei', '-n', TRADING, 'alpha', '-o', 'wide']));
    expect(wide).toMatch(/ACTIVE\s+STANDBYS/);
    expect(wide).toContain(`${alpha.status?.activeEngine}   1`);
  });

  it('passes helm test, and fails it while the operator is not ready', () => {
    const passed = helm(['test', 'teo', '--namespace', SYSTEM, '--timeout', '120s']);
    expect(passed.stdout).toMatch(/Phase:\s+Succeeded/);
    expect(passed.status).toBe(0);

    ok(
      kubectl(['-n', SYSTEM, 'scale', 'deployment', 'teo-trading-engine-operator', '--replicas=0']),
    );
    ok(
      kubectl([
        '-n',
        SYSTEM,
        'wait',
        '--for=delete',
        'pod',
        '-l',
        'app.kubernetes.io/name=trading-engine-operator',
        '--timeout=60s',
      ]),
    );
    const failed = helm(['test', 'teo', '--namespace', SYSTEM, '--timeout', '120s']);
    expect(failed.status).not.toBe(0);
    expect(`${failed.stdout}${failed.stderr}`).toMatch(/failed|Failed/);

    ok(
      kubectl(['-n', SYSTEM, 'scale', 'deployment', 'teo-trading-engine-operator', '--replicas=2']),
    );
    ok(
      kubectl([
        '-n',
        SYSTEM,
        'rollout',
        'status',
        'deployment/teo-trading-engine-operator',
        '--timeout=120s',
      ]),
    );
  });

  it('brings a healthy engine back when its pod is deleted', async () => {
    const [before] = podsOf('lh');
    ok(kubectl(['-n', TRADING, 'delete', 'pod', before?.metadata.name ?? '', '--wait=false']));
    await waitForReplacement('lh', before);
    expect(await healthOnceServed('lh')).toMatchObject({ status: 'healthy', role: 'active' });
  });

  it('replaces the pods when the credentials change, and they come back healthy', async () => {
    const secret = getJson<{ data: Record<string, string> }>([
      'secret',
      'lh-credentials',
      '-n',
      TRADING,
    ]);
    const [before] = podsOf('lh');
    // Removing the password asks the operator for a new one.
    ok(
      kubectl([
        '-n',
        TRADING,
        'patch',
        'secret',
        'lh-credentials',
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/data/postgres-password"}]',
      ]),
    );
    await waitForReplacement('lh', before);
    const after = getJson<{ data: Record<string, string> }>([
      'secret',
      'lh-credentials',
      '-n',
      TRADING,
    ]);
    expect(after.data['postgres-password']).toBeDefined();
    expect(after.data['postgres-password']).not.toBe(secret.data['postgres-password']);
    expect(await healthOnceServed('lh')).toMatchObject({ status: 'healthy', role: 'active' });
  });

  it('hands alpha to its standby when the active pod is deleted', async () => {
    const before = instance('alpha');
    const active = before.status?.activeEngine;
    const standby = podsOf('alpha').find((pod) => pod.metadata.name !== active)?.metadata.name;
    expect(active && standby).toBeTruthy();
    const started = Date.now();
    ok(kubectl(['-n', TRADING, 'delete', 'pod', active ?? '', '--wait=false']));
    await waitFor(
      'the standby to be active and alpha Ready',
      async () => {
        const item = instance('alpha');
        return item.status?.activeEngine === standby && ready(item)?.status === 'True'
          ? true
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const takeover = (Date.now() - started) / 1000;
    console.log(
      `standby takeover: ${takeover.toFixed(1)} s from deleting the active pod to alpha Ready with ${standby} active`,
    );
    const served = await waitFor('the Service to answer from the new active engine', async () => {
      const answer = health('alpha');
      return answer.status === 200 && answer.body?.role === 'active' ? answer : undefined;
    });
    expect(served.body).toMatchObject({
      instance: 'trading-system-engine-Alpha',
      status: 'healthy',
    });
    console.log(
      `standby takeover: ${((Date.now() - started) / 1000).toFixed(1)} s until the Service answered from it`,
    );
    // The replaced pod comes up as the new standby.
    await waitFor(
      'a new standby',
      async () => (instance('alpha').status?.standbyReplicas === 1 ? true : undefined),
      {
        timeoutMs: 120_000,
        intervalMs: 500,
      },
    );
  });
});

describe('stores that accept TLS only', () => {
  // A PostgreSQL and a Redis on the node's link, certificates for that address
  // signed by a CA the pods know only through the admin Secret: the engine
  // pods must reach both over verified TLS, or never become Ready.
  const dir = mkdtempSync(join(tmpdir(), 'tse-node-tls-'));
  let postgres: StoreServer;
  let redis: StoreServer;
  let hostIp: string;

  beforeAll(async () => {
    hostIp = new URL(inject('stores').postgres).hostname;
    const pki = createPki(dir, [hostIp]);
    const binaries = findPostgresBinaries();
    const redisServer = findRedisServer();
    if (!binaries || !redisServer) throw new Error('no PostgreSQL or Redis server binaries');
    [postgres, redis] = await Promise.all([
      startLocalPostgres(binaries, {
        tls: {
          cert: readFileSync(pki.serving.cert, 'utf8'),
          key: readFileSync(pki.serving.key, 'utf8'),
        },
        // Only the node's networks of this run (pods leave the node masqueraded as it).
        alsoListen: { address: hostIp, allow: '10.213.0.0/16' },
      }),
      startLocalRedis(redisServer, {
        tls: { ...pki.serving, ca: pki.caCert },
        alsoListen: { address: hostIp },
      }),
    ]);
    const onLink = (url: string, parameters: Record<string, string> = {}) => {
      const parsed = new URL(url);
      parsed.hostname = hostIp;
      parsed.search = new URLSearchParams(parameters).toString();
      return parsed.toString();
    };
    ok(
      kubectl([
        '-n',
        TRADING,
        'create',
        'secret',
        'generic',
        'tls-stores',
        `--from-literal=postgres=${onLink(postgres.url, { sslmode: 'verify-full' })}`,
        `--from-literal=redis=${onLink(redis.url)}`,
        `--from-file=ca.crt=${pki.caCert}`,
      ]),
    );
    ok(
      kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'trading.tse.io/v1alpha1',
          kind: 'TradingEngineInstance',
          metadata: { name: 'secure', namespace: TRADING },
          spec: {
            instanceName: 'trading-system-engine-Secure',
            postgres: {
              adminSecretRef: { name: 'tls-stores', key: 'postgres', caKey: 'ca.crt' },
              deletionPolicy: 'Delete',
            },
            redis: {
              adminSecretRef: { name: 'tls-stores', key: 'redis', caKey: 'ca.crt' },
              deletionPolicy: 'Delete',
            },
          },
        }),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    kubectl(['-n', TRADING, 'delete', 'tei', 'secure', '--timeout=120s']);
    kubectl(['-n', TRADING, 'delete', 'secret', 'tls-stores']);
    await Promise.allSettled([postgres?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the instance Ready with its engine on verified TLS to both, the CA mounted from its Secret', async () => {
    await waitForReady('secure');
    expect(await healthOnceServed('secure')).toMatchObject({
      status: 'healthy',
      instance: 'trading-system-engine-Secure',
      role: 'active',
    });
    const secret = getJson<{ data: Record<string, string> }>([
      'secret',
      'secure-credentials',
      '-n',
      TRADING,
    ]);
    const value = (key: string) => Buffer.from(secret.data[key] ?? '', 'base64').toString();
    expect(Object.fromEntries(new URL(value('POSTGRES_URL')).searchParams)).toEqual({
      sslmode: 'verify-full',
      sslrootcert: '/var/run/secrets/trading.tse.io/tls/postgres-ca.crt',
    });
    expect(value('REDIS_URL')).toMatch(/^rediss:\/\//);
    expect(value('redis-ca.crt')).toBe(readFileSync(join(dir, 'ca.crt'), 'utf8'));
    // Every session of the tenant's role is encrypted (the server refuses others anyway).
    const admin = new pg.Client(postgresConnection(postgres.url, postgresTls(postgres.url, 'url')));
    await admin.connect();
    try {
      const { rows } = await admin.query<{ ssl: boolean }>(
        'select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = $1',
        ['trading_system_engine_secure'],
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.ssl)).toBe(true);
    } finally {
      await admin.end();
    }
  });
});
