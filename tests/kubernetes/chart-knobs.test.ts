import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { helm, kubectl, ok } from '../support/cluster-cli.ts';
import { installServiceMonitorCrd, kube } from '../support/kube.ts';

const chart = fileURLToPath(new URL('../../helm/trading-engine-operator', import.meta.url));
const namespace = `knobs-${randomBytes(3).toString('hex')}`;

type Manifest = {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & {
    template?: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: Record<string, unknown>;
    };
  };
  data?: Record<string, string>;
};
const render = (...values: string[]) =>
  parseAllDocuments(ok(helm('template', 'teo', chart, '--namespace', namespace, ...values)))
    .map((doc) => doc.toJSON() as Manifest)
    .filter(Boolean);
const find = (manifests: Manifest[], kind: string) => manifests.find((m) => m.kind === kind);

beforeAll(async () => {
  const k = kube(inject('kubeconfig'));
  await installServiceMonitorCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
});

describe('the chart knobs', () => {
  it('sets image pull secrets, a priority class, pod annotations and labels on the operator pods', () => {
    const pod = find(
      render(
        '--set',
        'imagePullSecrets[0].name=regcred',
        '--set',
        'priorityClassName=system-cluster-critical',
        '--set',
        'podAnnotations.team=trading',
        '--set',
        'podLabels.tier=control',
      ),
      'Deployment',
    )?.spec?.template;
    expect(pod?.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod?.spec.priorityClassName).toBe('system-cluster-critical');
    expect(pod?.metadata.annotations).toMatchObject({ team: 'trading' });
    expect(pod?.metadata.labels).toMatchObject({ tier: 'control' });
  });

  it("spreads the operator pods, selecting this release's pods unless told otherwise", () => {
    const pod = find(
      render(
        '--set',
        'topologySpreadConstraints[0].maxSkew=1',
        '--set',
        'topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone',
        '--set',
        'topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway',
      ),
      'Deployment',
    )?.spec?.template;
    expect(pod?.spec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'trading-engine-operator',
            'app.kubernetes.io/instance': 'teo',
          },
        },
      },
    ]);
  });

  it('renames every object with nameOverride and fullnameOverride', () => {
    const byName = render('--set', 'nameOverride=teo-op');
    expect(find(byName, 'Deployment')?.metadata.name).toBe('teo-teo-op');
    expect(
      find(byName, 'Deployment')?.spec?.template?.metadata.labels['app.kubernetes.io/name'],
    ).toBe('teo-op');
    const full = render('--set', 'fullnameOverride=trading-operator');
    const names = full
      .filter(
        (m) => !['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(m.kind),
      )
      .map((m) => m.metadata.name);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).toMatch(/^trading-operator/);
  });

  it.each([
    ['priorityClassName=Not_A_Name', /priorityClassName/],
    ['topologySpreadConstraints[0].maxSkew=1', /topologyKey|whenUnsatisfiable/],
    ['imagePullSecrets[0]=regcred', /imagePullSecrets/],
    ['fullnameOverride=Upper', /fullnameOverride/],
  ])('refuses %s, naming the value', (value, message) => {
    const result = helm('template', 'teo', chart, '--set', value);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it('ships no dashboard unless asked, then the example dashboard for the Grafana sidecar', () => {
    expect(find(render(), 'ConfigMap')).toBeUndefined();
    const configMap = find(render('--set', 'grafanaDashboard.enabled=true'), 'ConfigMap');
    expect(configMap?.metadata.labels?.grafana_dashboard).toBe('1');
    const shipped = JSON.parse(configMap?.data?.['trading-engine.json'] ?? '{}');
    const example = JSON.parse(
      readFileSync(new URL('../../examples/grafana-dashboard.json', import.meta.url), 'utf8'),
    );
    expect(shipped).toEqual(example);
  });

  it("ships exactly the rule file promtool tests, as a PrometheusRule the Prometheus Operator's CRD accepts", () => {
    const rendered = ok(
      helm(
        'template',
        'teo',
        chart,
        '--namespace',
        namespace,
        '--set',
        'metrics.prometheusRule.enabled=true',
        '--set',
        'metrics.serviceMonitor.enabled=true',
        '--set',
        'grafanaDashboard.enabled=true',
        '--set',
        'crds.install=false',
      ),
    );
    const rule = parseAllDocuments(rendered)
      .map((doc) => doc.toJSON() as Manifest)
      .find((m) => m?.kind === 'PrometheusRule');
    const file = parse(
      readFileSync(
        new URL('../../helm/trading-engine-operator/files/prometheus-rules.yaml', import.meta.url),
        'utf8',
      ),
    );
    expect(rule?.spec).toEqual(file);
    ok(kubectl(['apply', '--dry-run=server', '-f', '-'], rendered));
  });

  it('passes helm lint --strict with every knob set', () => {
    ok(
      helm(
        'lint',
        '--strict',
        chart,
        '--set',
        'imagePullSecrets[0].name=regcred',
        '--set',
        'priorityClassName=system-cluster-critical',
        '--set',
        'nameOverride=teo-op',
        '--set',
        'grafanaDashboard.enabled=true',
        '--set',
        'metrics.prometheusRule.enabled=true',
      ),
    );
  });
});
