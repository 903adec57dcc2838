import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { aclSetuserCount, apiserverWrites, ddlCount } from '../support/counters.ts';
import { adminQuery, useDatabase } from '../support/fixtures.ts';
import {
  applyYaml,
  condition,
  getInstance,
  installCrd,
  type Kube,
  kube,
  TEI,
  teiManifest,
  waitForCondition,
  waitForProvisioned,
} from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { waitFor } from '../support/processes.ts';

const database = useDatabase();
const namespace = `behaviour-${randomBytes(3).toString('hex')}`;
const QUIET_SECONDS = Number(process.env.TSE_QUIET_SECONDS ?? 60);
let k: Kube;
let operator: InProcessOperator;
let redis: Redis;

const apply = (name: string, spec: Record<string, unknown>) =>
  applyYaml(k, JSON.stringify(teiManifest(namespace, name, spec)));
const env = async (name: string) =>
  Object.fromEntries(
    (
      (await k.apps.readNamespacedDeployment({ namespace, name })).spec?.template.spec
        ?.containers[0]?.env ?? []
    ).map((e) => [e.name, e.value]),
  );

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  redis = new Redis(inject('redisUrl'));
  await installCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  operator = await runOperator({
    KUBECONFIG: inject('kubeconfig'),
    POSTGRES_ADMIN_URL: database.url,
    REDIS_ADMIN_URL: inject('redisUrl'),
    WATCH_NAMESPACES: namespace,
    RESYNC_PERIOD_SECONDS: '5',
  });
  await apply('lh', { instanceName: `${namespace}-engine-LH` });
  await waitForProvisioned(k, namespace, 'lh', { timeoutMs: 90_000 });
});

afterAll(async () => {
  await operator?.stop();
  redis?.disconnect();
});

describe('changes', () => {
  it('reach the Deployment when the spec changes', async () => {
    await apply('lh', {
      instanceName: `${namespace}-engine-LH`,
      logLevel: 'debug',
      environment: 'production',
    });
    await waitFor('the new settings in the pod template', async () => {
      const variables = await env('lh');
      return variables.LOG_LEVEL === 'debug' && variables.ENVIRONMENT === 'production'
        ? true
        : undefined;
    });
    await waitForProvisioned(k, namespace, 'lh');
  });

  it('revert a hand edit of an owned object', async () => {
    await k.apps.patchNamespacedDeployment({
      namespace,
      name: 'lh',
      body: [
        {
          op: 'replace',
          path: '/spec/strategy',
          value: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        },
      ],
    });
    await k.core.patchNamespacedService({
      namespace,
      name: 'lh',
      body: [{ op: 'replace', path: '/spec/ports/0/port', value: 9999 }],
    });
    await waitFor('the operator to put them back', async () => {
      const deployment = await k.apps.readNamespacedDeployment({ namespace, name: 'lh' });
      const service = await k.core.readNamespacedService({ namespace, name: 'lh' });
      return deployment.spec?.strategy?.type === 'Recreate' &&
        service.spec?.ports?.[0]?.port === 8083
        ? true
        : undefined;
    });
  });

  it('keep a NetworkPolicy for the engines: put back when edited, opened to named clients, removed when turned off', async () => {
    const policy = {
      group: 'networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'networkpolicies',
    };
    type Policy = { spec: { ingress: { from?: unknown[]; ports?: unknown[] }[] } };
    const read = () =>
      (k.custom.getNamespacedCustomObject({ ...policy, name: 'lh' }) as Promise<Policy>).catch(
        (error) => {
          if ((error as { code?: number }).code === 404) return undefined;
          throw error;
        },
      );
    const patchInstance = (body: object) =>
      k.custom.patchNamespacedCustomObject(
        { ...TEI, namespace, name: 'lh', body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const monitoringOnly = [
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
        ],
        ports: [{ protocol: 'TCP', port: 8084 }],
      },
    ];
    const created = await waitFor('the NetworkPolicy', async () => (await read()) ?? undefined);
    expect(created.spec.ingress).toEqual(monitoringOnly);
    // Someone opens it to everyone: an ingress rule without peers admits every source.
    await k.custom.patchNamespacedCustomObject(
      { ...policy, name: 'lh', body: [{ op: 'replace', path: '/spec/ingress', value: [{}] }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await waitFor('the operator to put it back', async () =>
      isDeepStrictEqual((await read())?.spec.ingress, monitoringOnly) ? true : undefined,
    );
    // Or widens a port to a range beyond what the instance names: put back too.
    await k.custom.patchNamespacedCustomObject(
      {
        ...policy,
        name: 'lh',
        body: [
          {
            op: 'add',
            path: '/spec/ingress/0/ports/0/endPort',
            value: 9000,
          },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await waitFor('the operator to narrow it again', async () =>
      isDeepStrictEqual((await read())?.spec.ingress, monitoringOnly) ? true : undefined,
    );
    const traders = [{ podSelector: { matchLabels: { app: 'trader' } } }];
    await patchInstance({ spec: { networkPolicy: { clients: traders } } });
    await waitFor('the named clients on the trading ports', async () =>
      isDeepStrictEqual((await read())?.spec.ingress[0]?.from, traders) ? true : undefined,
    );
    await patchInstance({ spec: { networkPolicy: { enabled: false } } });
    await waitFor('the NetworkPolicy to be gone', async () =>
      (await read()) === undefined ? true : undefined,
    );
    await patchInstance({ spec: { networkPolicy: null } });
    await waitFor('the NetworkPolicy back by default', async () =>
      (await read()) ? true : undefined,
    );
  });

  it('bring back a dropped login role and ACL user at the next resync', async () => {
    const { postgresSchema, redisNamespace } =
      (await getInstance(k, namespace, 'lh')).status?.identity ?? {};
    // Dropped with its schema: a schema handed to another role would be refused, never taken back.
    await adminQuery(database.url, `drop owned by ${postgresSchema}; drop role ${postgresSchema}`);
    await redis.call('ACL', 'DELUSER', redisNamespace as string);
    await waitFor(
      'the role and user to come back',
      async () => {
        const { rows } = await adminQuery(
          database.url,
          'select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = $1',
          [postgresSchema],
        );
        const users = (await redis.acl('USERS')) as string[];
        return rows[0]?.owner === postgresSchema && users.includes(redisNamespace as string)
          ? true
          : undefined;
      },
      { timeoutMs: 30_000 },
    );
    await waitForProvisioned(k, namespace, 'lh');
  });
});

describe('bad input', () => {
  it.each([
    [{ instanceName: 'bad_name' }, /spec.instanceName in body should match/],
    [{ redis: { namespace: 'a:*' } }, /spec.redis.namespace/],
    [{ replicas: -1 }, /spec.replicas in body should be greater than or equal to 0/],
    [{ environment: 'staging' }, /spec.environment: Unsupported value: "staging"/],
    [
      { networkPolicy: { clients: [{ namespaceSelector: {} }] } },
      /an empty namespaceSelector selects every namespace of the cluster/,
    ],
    [
      { networkPolicy: { clients: [{ podSelector: { matchLabels: {} } }] } },
      /an empty podSelector selects every pod of the namespace/,
    ],
  ])('is refused by the API server with a clear message: %j', async (spec, message) => {
    await expect(apply(`bad-${randomBytes(2).toString('hex')}`, spec)).rejects.toThrow(message);
  });

  it('refuses to change the instance name of an existing instance', async () => {
    await expect(apply('lh', { instanceName: `${namespace}-engine-XX` })).rejects.toThrow(
      /spec.instanceName is immutable/,
    );
  });

  it('is reported as a condition and an Event when only the operator can tell', async () => {
    await apply('reserved', { instanceName: 'select' });
    const instance = await waitForCondition(k, namespace, 'reserved', 'Ready', 'False', {
      reason: 'InvalidSpec',
    });
    expect(condition(instance, 'Ready')?.message).toMatch(
      /spec.postgres.schema \(derived from instanceName "select".*reserved word/,
    );
    const events = await k.core.listNamespacedEvent({
      namespace,
      fieldSelector: 'involvedObject.name=reserved',
    });
    expect(events.items.map((event) => event.reason)).toContain('InvalidSpec');
  });

  it('leaves the later of two colliding instances not Ready, with nothing provisioned', async () => {
    // As trading-system-core-LH and trading-system-engine-LH do, these derive the same Redis namespace.
    const firm = `x${randomBytes(3).toString('hex')}`;
    await apply('engine-lh', { instanceName: `${firm}-system-engine-LH` });
    await waitForProvisioned(k, namespace, 'engine-lh', { timeoutMs: 90_000 });
    await apply('core-lh', { instanceName: `${firm}-system-core-LH` });
    const refused = await waitForCondition(k, namespace, 'core-lh', 'Ready', 'False', {
      reason: 'NameConflict',
    });
    expect(condition(refused, 'Ready')?.message).toBe(
      `it uses Redis namespace "${firm}_system:LH" already held by ${namespace}/engine-lh (created earlier); choose another instance name or set spec.postgres.schema / spec.redis.namespace`,
    );
    const schema = `${firm}_system_core_lh`;
    const { rows } = await adminQuery(
      database.url,
      'select 1 from pg_roles where rolname = $1 union all select 1 from pg_namespace where nspname = $1',
      [schema],
    );
    expect(rows).toEqual([]);
    await expect(
      k.apps.readNamespacedDeployment({ namespace, name: 'core-lh' }),
    ).rejects.toMatchObject({ code: 404 });
    const events = await k.core.listNamespacedEvent({
      namespace,
      fieldSelector: 'involvedObject.name=core-lh',
    });
    expect(events.items.map((event) => event.reason)).toContain('NameConflict');
  });
});

describe('other databases open to PUBLIC', () => {
  it('are named in one Warning per instance, across resyncs, and provisioning still succeeds', async () => {
    // The server's postgres and template1 keep PUBLIC's default CONNECT: POSTGRES_REVOKE_PUBLIC_CONNECT is off.
    await waitForProvisioned(k, namespace, 'lh');
    const warnings = async () =>
      (
        await k.core.listNamespacedEvent({
          namespace,
          fieldSelector: 'involvedObject.name=lh,reason=DatabasesOpenToPublic',
        })
      ).items;
    const [warning, ...more] = await warnings();
    expect(more).toEqual([]);
    expect(warning).toMatchObject({ type: 'Warning' });
    expect(warning?.message).toMatch(/"postgres"/);
    expect(warning?.message).toMatch(/"template1"/);
    expect(warning?.message).not.toContain(`"${database.name}"`);
    expect(warning?.message).toContain('postgres.revokePublicConnect=true');
    // Two resyncs later (5 s each), still the one Warning.
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    expect(await warnings()).toHaveLength(1);
    // Advice, not failure: on fake nodes no engine trades, so Ready waits only for one.
    const instance = await getInstance(k, namespace, 'lh');
    expect(condition(instance, 'DatabaseReady')?.status).toBe('True');
    expect(condition(instance, 'Ready')?.reason).toBe('NoActiveEngine');
  });
});

describe('a converged cluster', () => {
  it(
    `sees no writes, no DDL and no ACL SETUSER for ${QUIET_SECONDS}s of resyncs`,
    async () => {
      // Only converged instances stay: the refused ones are deleted first.
      const keep = ['lh', 'engine-lh'];
      const listed = (await k.custom.listNamespacedCustomObject({ ...TEI, namespace })) as {
        items: { metadata: { name: string } }[];
      };
      for (const { metadata } of listed.items) {
        if (!keep.includes(metadata.name))
          await k.custom.deleteNamespacedCustomObject({ ...TEI, namespace, name: metadata.name });
      }
      await waitFor('the refused instances to be gone', async () => {
        const list = (await k.custom.listNamespacedCustomObject({ ...TEI, namespace })) as {
          items: unknown[];
        };
        return list.items.length === keep.length ? true : undefined;
      });
      for (const name of keep) await waitForProvisioned(k, namespace, name);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const before = {
        writes: apiserverWrites(inject('kubectl'), inject('kubeconfig'), { operatorOnly: true }),
        ddl: await ddlCount(database.adminUrl),
        acl: await aclSetuserCount(redis),
        reconciles: await reconcileCount(),
      };
      await new Promise((resolve) => setTimeout(resolve, QUIET_SECONDS * 1000));
      const after = {
        writes: apiserverWrites(inject('kubectl'), inject('kubeconfig'), { operatorOnly: true }),
        ddl: await ddlCount(database.adminUrl),
        acl: await aclSetuserCount(redis),
        reconciles: await reconcileCount(),
      };
      expect(after.reconciles - before.reconciles).toBeGreaterThanOrEqual(
        Math.floor(QUIET_SECONDS / 6) * 2,
      );
      expect({
        writes: after.writes - before.writes,
        ddl: after.ddl - before.ddl,
        acl: after.acl - before.acl,
      }).toEqual({ writes: 0, ddl: 0, acl: 0 });
    },
    (QUIET_SECONDS + 60) * 1000,
  );
});

async function reconcileCount(): Promise<number> {
  const text = await operator.metrics.registry.getSingleMetricAsString(
    'controller_runtime_reconcile_total',
  );
  return [...text.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)$/gm)].reduce(
    (sum, match) => sum + Number(match[1]),
    0,
  );
}
