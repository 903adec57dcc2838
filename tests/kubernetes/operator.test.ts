import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEngineProcess } from '../support/engine-process.ts';
import { adminQuery, useDatabase } from '../support/fixtures.ts';
import {
  applyYaml,
  condition,
  installCrd,
  installServiceMonitorCrd,
  type Kube,
  kube,
  teiManifest,
  waitForCondition,
  waitForProvisioned,
} from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { podEnvironment } from '../support/pod-environment.ts';
import { waitFor } from '../support/processes.ts';

// The seed's three instances on a real control plane, PostgreSQL and Redis.
const tse = fileURLToPath(new URL('../../bin/src/tse.ts', import.meta.url));
const database = useDatabase();
const namespace = `seed-${randomBytes(3).toString('hex')}`;
let k: Kube;
let operator: InProcessOperator;

const SEED = [
  {
    name: 'trading-system-engine',
    spec: {},
    schema: 'trading',
    redisNamespace: 'trading',
    instance: 'trading-system-engine',
  },
  {
    name: 'lh',
    spec: { instanceName: 'trading-system-engine-LH' },
    schema: 'trading_system_engine_lh',
    redisNamespace: 'trading_system:LH',
    instance: 'trading-system-engine-LH',
  },
  {
    name: 'alpha',
    spec: { instanceName: 'trading-system-engine-Alpha' },
    schema: 'trading_system_engine_alpha',
    redisNamespace: 'trading_system:Alpha',
    instance: 'trading-system-engine-Alpha',
  },
];

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await installCrd(k);
  await installServiceMonitorCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  operator = await runOperator({
    KUBECONFIG: inject('kubeconfig'),
    POSTGRES_ADMIN_URL: database.url,
    REDIS_ADMIN_URL: inject('redisUrl'),
    WATCH_NAMESPACES: namespace,
  });
  for (const seed of SEED)
    await applyYaml(k, JSON.stringify(teiManifest(namespace, seed.name, seed.spec)));
});

afterAll(async () => {
  await operator?.stop();
});

describe('the seed instances', () => {
  it.each(SEED)('$name is provisioned with its derived identity', async (seed) => {
    const instance = await waitForProvisioned(k, namespace, seed.name, { timeoutMs: 90_000 });
    expect(instance.status?.identity).toEqual({
      serviceName: 'trading-system-engine',
      instanceName: seed.instance,
      postgresSchema: seed.schema,
      redisNamespace: seed.redisNamespace,
    });
    for (const type of ['DatabaseReady', 'CacheReady']) {
      expect(instance.status?.conditions?.find((c) => c.type === type)?.status).toBe('True');
    }
    // Fake nodes run no engine: nothing holds the instance's lock, so nothing trades yet.
    expect(instance.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NoActiveEngine',
    });
    expect(instance.metadata.finalizers).toContain('trading.tse.io/finalizer');
  });

  it('get their schema, login role and Redis ACL user', async () => {
    const { rows } = await adminQuery(
      database.url,
      `select n.nspname, pg_get_userbyid(n.nspowner) as owner, r.rolcanlogin from pg_namespace n join pg_roles r on r.rolname = n.nspname where n.nspname = any($1) order by 1`,
      [SEED.map((seed) => seed.schema)],
    );
    expect(rows).toEqual(
      SEED.map((seed) => ({ nspname: seed.schema, owner: seed.schema, rolcanlogin: true })).sort(
        (a, b) => a.nspname.localeCompare(b.nspname),
      ),
    );
    const redis = new Redis(inject('redisUrl'));
    const users = (await redis.acl('USERS')) as string[];
    redis.disconnect();
    expect(users).toEqual(expect.arrayContaining(SEED.map((seed) => seed.redisNamespace)));
  });

  it.each(SEED)('$name owns its Secret, Deployment and Service', async (seed) => {
    const owner = expect.objectContaining({
      kind: 'TradingEngineInstance',
      name: seed.name,
      controller: true,
    });
    const deployment = await k.apps.readNamespacedDeployment({ namespace, name: seed.name });
    const service = await k.core.readNamespacedService({ namespace, name: seed.name });
    const secret = await k.core.readNamespacedSecret({
      namespace,
      name: `${seed.name}-credentials`,
    });
    for (const object of [deployment, service, secret])
      expect(object.metadata?.ownerReferences).toEqual([owner]);
    expect(deployment.spec?.strategy?.type).toBe('Recreate');
    expect(deployment.status?.availableReplicas).toBe(1);
    expect(service.spec?.ports?.map((port) => port.port)).toEqual([8083, 50053]);
  });

  it('are listed by tse status with their identity, and why they are not Ready', () => {
    const result = spawnSync(process.execPath, [tse, 'status', '-n', namespace], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
    });
    // Not every instance is Ready (no engine runs on fake nodes): tse status says so in its exit code.
    expect(result.status).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+INSTANCE\s+SCHEMA\s+REDIS NAMESPACE\s+READY/);
    for (const seed of SEED) {
      const row = new RegExp(
        `^${namespace}\\s+${seed.name}\\s+${seed.instance}\\s+${seed.schema}\\s+${seed.redisNamespace}\\s+False\\s+NoActiveEngine: no engine holds the instance lock yet`,
      );
      expect(lines).toContainEqual(expect.stringMatching(row));
    }
  });

  it.each(SEED)(
    '$name gets a ServiceMonitor scraping /metrics, as the monitoring CRD exists',
    async (seed) => {
      const monitor = (await k.custom.getNamespacedCustomObject({
        group: 'monitoring.coreos.com',
        version: 'v1',
        plural: 'servicemonitors',
        namespace,
        name: seed.name,
      })) as {
        metadata: { ownerReferences: unknown[] };
        spec: { endpoints: { port: string; path: string }[] };
      };
      expect(monitor.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'TradingEngineInstance', name: seed.name }),
      ]);
      expect(monitor.spec.endpoints).toEqual([
        expect.objectContaining({ port: 'management', path: '/metrics' }),
      ]);
    },
  );

  it.each(SEED)(
    '$name: an engine started with the pod environment reports that identity, healthy',
    async (seed) => {
      const deployment = await k.apps.readNamespacedDeployment({ namespace, name: seed.name });
      const env = await podEnvironment(k.core, deployment);
      const engine = await startEngineProcess(env);
      try {
        // Healthy comes first; active once it holds the instance's lock (no other engine has it).
        const body = await waitFor('the engine to connect to its stores and trade', async () => {
          const health = await engine.get('/api/v1/health');
          return health.body.status === 'healthy' && health.body.role === 'active'
            ? health.body
            : undefined;
        });
        expect(body).toMatchObject({
          status: 'healthy',
          service: 'trading-system-engine',
          instance: seed.instance,
          postgres_schema: seed.schema,
          redis_namespace: seed.redisNamespace,
          environment: 'kubernetes',
          role: 'active',
        });
        // An engine outside the cluster trading as this instance is shown, not hidden.
        const held = await waitForCondition(k, namespace, seed.name, 'Available', 'False', {
          reason: 'LockHeldElsewhere',
        });
        expect(condition(held, 'Available')?.message).toContain(
          'which is not a pod of this instance',
        );
      } finally {
        expect(await engine.signal('SIGTERM')).toBe(0);
      }
    },
  );
});
