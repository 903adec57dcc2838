import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useDatabase } from '../support/fixtures.ts';
import {
  applyYaml,
  installCrd,
  type Kube,
  kube,
  teiManifest,
  waitForProvisioned,
} from '../support/kube.ts';
import { runOperator } from '../support/operator.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { Relay } from '../support/relay.ts';

// The operator's runtime against the real control plane: it reconciles only
// from caches that listed, says so on /readyz, and runs cluster-wide.
const database = useDatabase();
const dir = mkdtempSync(join(tmpdir(), 'operator-runtime-'));
let k: Kube;

const storesEnv = () => ({
  POSTGRES_ADMIN_URL: database.url,
  REDIS_ADMIN_URL: inject('redisUrl'),
});
const newNamespace = async (prefix: string) => {
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  return namespace;
};
/** A copy of the admin kubeconfig, changed by `edit`. */
const kubeconfigWith = (name: string, edit: (config: KubeconfigJson) => void) => {
  const config = JSON.parse(readFileSync(inject('kubeconfig'), 'utf8')) as KubeconfigJson;
  edit(config);
  const path = join(dir, `${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify(config));
  return path;
};
type KubeconfigJson = {
  clusters: { cluster: { server: string } }[];
  users: { user: Record<string, string> }[];
};
const readyz = async (operator: OperatorProcess) =>
  (await fetch(operator.metricsUrl.replace('/metrics', '/readyz'))).status;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const managedSecrets = async (namespace: string) =>
  (
    await k.core.listNamespacedSecret({
      namespace,
      labelSelector: 'app.kubernetes.io/managed-by=trading-engine-operator',
    })
  ).items.map((secret) => ({ name: secret.metadata?.name, data: secret.data }));

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await installCrd(k);
});

describe('an API server that cannot be reached at start', () => {
  let operator: OperatorProcess | undefined;
  let relay: Relay;
  afterAll(async () => {
    await operator?.kill('SIGTERM');
    await relay?.close();
  });

  it('leaves the operator not ready and reconciling nothing until it can list', async () => {
    const namespace = await newNamespace('unreachable');
    const server = (JSON.parse(readFileSync(inject('kubeconfig'), 'utf8')) as KubeconfigJson)
      .clusters[0]?.cluster.server as string;
    relay = new Relay(await freePort(), server);
    const kubeconfig = kubeconfigWith('relay', (config) => {
      for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${relay.port}`;
    });
    await applyYaml(k, JSON.stringify(teiManifest(namespace, 'waits')));
    operator = await startOperatorProcess({
      ...storesEnv(),
      KUBECONFIG: kubeconfig,
      WATCH_NAMESPACES: namespace,
      LEADER_ELECTION: 'false',
    });
    const started = Date.now();
    await waitFor('the lists to fail', async () =>
      operator?.logs().some((line) => line.msg === 'list failed; retrying') ? true : undefined,
    );
    await sleep(3_000);
    expect(await readyz(operator)).toBe(503);
    expect(await operator.reconciles()).toBe(0);
    expect(operator.logs().some((line) => String(line.msg).startsWith('caches synced'))).toBe(
      false,
    );
    // Backing off: a handful of attempts per kind in these seconds, not one a second forever.
    const attempts = operator
      .logs()
      .filter((line) => line.msg === 'list failed; retrying' && line.kind === 'Secret');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThanOrEqual(4);

    await relay.open();
    const opened = Date.now();
    const current = operator;
    await waitFor('the operator to be ready', async () =>
      (await readyz(current)) === 200 ? true : undefined,
    );
    console.log(
      `operator ready ${Date.now() - opened} ms after the API server became reachable (${Date.now() - started} ms after start)`,
    );
    await waitForProvisioned(k, namespace, 'waits', { timeoutMs: 90_000 });
    // The reconcile that wrote the status is counted when it returns.
    expect(
      await waitFor('a reconcile to be counted', async () =>
        (await current.reconciles()) > 0 ? true : undefined,
      ),
    ).toBe(true);
  });
});

describe('a first LIST refused (no RBAC to list Secrets)', () => {
  let operator: OperatorProcess | undefined;
  afterAll(() => operator?.kill('SIGTERM'));

  it('leaves the operator not ready, and it regenerates no password', async () => {
    const namespace = await newNamespace('norbac');
    // Provisioned first by an operator that may read everything.
    const first = await runOperator({
      ...storesEnv(),
      KUBECONFIG: inject('kubeconfig'),
      WATCH_NAMESPACES: namespace,
    });
    try {
      await applyYaml(k, JSON.stringify(teiManifest(namespace, 'kept')));
      await waitForProvisioned(k, namespace, 'kept', { timeoutMs: 90_000 });
    } finally {
      await first.stop();
    }
    const before = await managedSecrets(namespace);
    expect(before.length).toBeGreaterThan(0);

    // A service account that may do everything in the namespace but list and watch Secrets.
    const rbac = k.kc.makeApiClient(RbacAuthorizationV1Api);
    await k.core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'restricted' } },
    });
    const everythingBut = (secretVerbs: string[]) => ({
      metadata: { name: 'restricted', namespace },
      rules: [
        {
          apiGroups: ['', 'apps', 'policy', 'networking.k8s.io', 'trading.tse.io', 'events.k8s.io'],
          resources: [
            'pods',
            'services',
            'events',
            'deployments',
            'poddisruptionbudgets',
            'networkpolicies',
            'tradingengineinstances',
            'tradingengineinstances/status',
          ],
          verbs: ['*'],
        },
        { apiGroups: [''], resources: ['secrets'], verbs: secretVerbs },
      ],
    });
    await rbac.createNamespacedRole({
      namespace,
      body: everythingBut(['get', 'create', 'patch', 'update']),
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'restricted', namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'restricted' },
        subjects: [{ kind: 'ServiceAccount', name: 'restricted', namespace }],
      },
    });
    const kubeconfig = kubeconfigWith(`restricted-${namespace}`, (config) => {
      for (const { user } of config.users)
        user.as = `system:serviceaccount:${namespace}:restricted`;
    });
    operator = await startOperatorProcess({
      ...storesEnv(),
      KUBECONFIG: kubeconfig,
      WATCH_NAMESPACES: namespace,
      LEADER_ELECTION: 'false',
    });
    const current = operator;
    await waitFor('the Secret list to be refused', async () =>
      current.logs().some((line) => line.msg === 'list failed; retrying' && line.kind === 'Secret')
        ? true
        : undefined,
    );
    await sleep(4_000);
    expect(await readyz(operator)).toBe(503);
    expect(await operator.reconciles()).toBe(0);
    expect(await managedSecrets(namespace)).toEqual(before);

    // Granted the list, it syncs, reconciles, and finds the passwords it had.
    await rbac.replaceNamespacedRole({
      name: 'restricted',
      namespace,
      body: everythingBut(['get', 'create', 'patch', 'update', 'list', 'watch']),
    });
    await waitFor(
      'the operator to be ready',
      async () => ((await readyz(current)) === 200 ? true : undefined),
      { timeoutMs: 60_000 },
    );
    await waitFor('a reconcile', async () => ((await current.reconciles()) > 0 ? true : undefined));
    await waitForProvisioned(k, namespace, 'kept', { timeoutMs: 60_000 });
    expect(await managedSecrets(namespace)).toEqual(before);
  });
});

describe('cluster-wide (no WATCH_NAMESPACES), as the chart installs it by default', () => {
  it('reconciles an instance in a namespace nobody named', async () => {
    const namespace = await newNamespace('anywhere');
    const started = Date.now();
    const operator = await runOperator({ ...storesEnv(), KUBECONFIG: inject('kubeconfig') });
    try {
      console.log(
        `cluster-wide operator synced and reconciling ${Date.now() - started} ms after start`,
      );
      expect(operator.logs.some((line) => line.namespaces === 'all')).toBe(true);
      await applyYaml(
        k,
        JSON.stringify(teiManifest(namespace, 'wide', { instanceName: `${namespace}-engine` })),
      );
      const instance = await waitForProvisioned(k, namespace, 'wide', { timeoutMs: 90_000 });
      expect(instance.status?.identity?.instanceName).toBe(`${namespace}-engine`);
      const deployment = await k.apps.readNamespacedDeployment({ namespace, name: 'wide' });
      expect(deployment.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe(
        'trading-engine-operator',
      );
    } finally {
      await operator.stop();
    }
  });
});
