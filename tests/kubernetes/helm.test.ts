import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { helm, kubectl, ok } from '../support/cluster-cli.ts';
import { type Kube, kube } from '../support/kube.ts';
import { waitFor } from '../support/processes.ts';

const chart = fileURLToPath(new URL('../../helm/trading-engine-operator', import.meta.url));
const examples = fileURLToPath(new URL('../../examples', import.meta.url));
const namespace = `helm-${randomBytes(3).toString('hex')}`;
let k: Kube;

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
});

describe('the Helm chart', () => {
  it('passes helm lint --strict', () => {
    ok(helm('lint', '--strict', chart));
  });

  it('refuses values its schema does not allow, naming them', () => {
    const result = helm(
      'template',
      'x',
      chart,
      '--set',
      'replicaCount=0',
      '--set',
      'logLevel=loud',
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/replicaCount/);
    expect(result.stderr).toMatch(/logLevel/);
  });

  it.each([
    ['cluster-wide', []],
    [
      'namespaced',
      [
        '--set',
        `watchNamespaces={${namespace}}`,
        '--set',
        'postgres.adminSecret.name=pg',
        '--set',
        'redis.adminSecret.name=redis',
      ],
    ],
  ])('renders %s manifests the API server accepts', (_, values) => {
    const rendered = ok(helm('template', 'dry', chart, '--namespace', namespace, ...values));
    ok(kubectl(['apply', '--dry-run=server', '-f', '-'], rendered));
  });

  it('installs and upgrades the operator and its CRD on the cluster', async () => {
    ok(
      helm(
        'install',
        'teo',
        chart,
        '--namespace',
        namespace,
        '--take-ownership',
        '--wait',
        '--timeout',
        '120s',
      ),
    );
    const deployment = await k.apps.readNamespacedDeployment({
      namespace,
      name: 'teo-trading-engine-operator',
    });
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.status?.readyReplicas).toBe(2);
    const crd = JSON.parse(
      ok(kubectl(['get', 'crd', 'tradingengineinstances.trading.tse.io', '-o', 'json'])),
    );
    expect(crd.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    expect(crd.metadata.labels['helm.sh/chart']).toBe('trading-engine-operator-0.1.0');

    ok(
      helm(
        'upgrade',
        'teo',
        chart,
        '--namespace',
        namespace,
        '--take-ownership',
        '--wait',
        '--timeout',
        '120s',
        '--set',
        'replicaCount=3',
        '--set',
        'reconcile.concurrency=16',
      ),
    );
    const upgraded = await k.apps.readNamespacedDeployment({
      namespace,
      name: 'teo-trading-engine-operator',
    });
    expect(upgraded.spec?.replicas).toBe(3);
    const env = Object.fromEntries(
      (upgraded.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]),
    );
    expect(env.MAX_CONCURRENT_RECONCILES).toBe('16');
    const revision = JSON.parse(
      ok(kubectl(['get', 'crd', 'tradingengineinstances.trading.tse.io', '-o', 'json'])),
    );
    expect(revision.metadata.labels['app.kubernetes.io/instance']).toBe('teo');
    // `helm test` runs a real Job on the real node (tests/node/product.test.ts): a fake node completes any pod.
  }, 300_000);
});

describe('the examples', () => {
  it('are all accepted by the API server', async () => {
    ok(kubectl(['apply', '--server-side', '-f', `${examples}/namespace.yaml`]));
    await waitFor('the CRD to be served', async () =>
      kubectl(['get', 'tei', '-A']).status === 0 ? true : undefined,
    );
    const files = readdirSync(examples).filter((file) => file.endsWith('.yaml'));
    expect(files).toEqual(
      expect.arrayContaining(['singleton.yaml', 'lh.yaml', 'alpha.yaml', 'admin-secrets.yaml']),
    );
    for (const file of files)
      ok(kubectl(['apply', '--dry-run=server', '-f', `${examples}/${file}`]));
  });
});
