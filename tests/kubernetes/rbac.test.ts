import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { binDir } from '../cluster/binaries.ts';
import { kubectl, run } from '../support/cluster-cli.ts';
import { installCrd, type Kube, kube } from '../support/kube.ts';

// The chart's RBAC, applied to the real API server and asked, verb by verb,
// with `kubectl auth can-i` as the operator's service account.
const chart = fileURLToPath(new URL('../../helm/trading-engine-operator', import.meta.url));
const suffix = randomBytes(3).toString('hex');
const clusterWide = `rbac-cluster-${suffix}`;
const namespaced = `rbac-ns-${suffix}`;
const watched = `rbac-watched-${suffix}`;
let k: Kube;

function install(release: string, namespace: string, values: string[] = []): void {
  const rendered = run(`${binDir()}/helm`, [
    'template',
    release,
    chart,
    '--namespace',
    namespace,
    '--show-only',
    'templates/rbac.yaml',
    ...values,
  ]);
  expect(rendered.stderr).toBe('');
  const applied = kubectl(['apply', '-f', '-'], rendered.stdout);
  expect(applied.stderr).toBe('');
}

/** Whether the release's service account may `verb` `resource` in `namespace`. */
function can(release: string, home: string, verb: string, resource: string, namespace: string) {
  const account = `system:serviceaccount:${home}:${release}-trading-engine-operator`;
  // "type/name" would read as an object's name: a subresource goes in its own flag.
  const [type, subresource] = resource.split('/') as [string, string | undefined];
  const answer = kubectl([
    'auth',
    'can-i',
    verb,
    type,
    ...(subresource ? [`--subresource=${subresource}`] : []),
    '-n',
    namespace,
    '--as',
    account,
  ]);
  return answer.stdout.trim();
}

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await installCrd(k);
  for (const name of [clusterWide, namespaced, watched])
    await k.core.createNamespace({ body: { metadata: { name } } });
  install(`c${suffix}`, clusterWide);
  install(`n${suffix}`, namespaced, ['--set', `watchNamespaces={${watched}}`]);
});

const used: [string, string][] = [
  ['get', 'tradingengineinstances.trading.tse.io'],
  ['list', 'tradingengineinstances.trading.tse.io'],
  ['watch', 'tradingengineinstances.trading.tse.io'],
  ['patch', 'tradingengineinstances.trading.tse.io'],
  ['patch', 'tradingengineinstances.trading.tse.io/status'],
  ['update', 'tradingengineinstances.trading.tse.io/finalizers'],
  ['create', 'deployments.apps'],
  ['patch', 'deployments.apps'],
  ['watch', 'deployments.apps'],
  ['get', 'secrets'],
  ['patch', 'secrets'],
  ['patch', 'services'],
  ['create', 'events'],
  ['get', 'pods'],
  ['list', 'pods'],
  ['watch', 'pods'],
  ['patch', 'pods'],
  ['create', 'poddisruptionbudgets.policy'],
  ['patch', 'poddisruptionbudgets.policy'],
  ['watch', 'poddisruptionbudgets.policy'],
  ['create', 'networkpolicies.networking.k8s.io'],
  ['patch', 'networkpolicies.networking.k8s.io'],
  ['watch', 'networkpolicies.networking.k8s.io'],
  ['delete', 'networkpolicies.networking.k8s.io'],
];
const unused: [string, string][] = [
  ['delete', 'secrets'],
  ['update', 'secrets'],
  ['delete', 'services'],
  ['delete', 'deployments.apps'],
  ['update', 'deployments.apps'],
  ['delete', 'tradingengineinstances.trading.tse.io'],
  ['update', 'tradingengineinstances.trading.tse.io'],
  ['create', 'tradingengineinstances.trading.tse.io'],
  ['delete', 'pods'],
  ['delete', 'poddisruptionbudgets.policy'],
  ['update', 'networkpolicies.networking.k8s.io'],
  ['patch', 'events'],
  ['create', 'serviceaccounts/token'],
  ['escalate', 'roles.rbac.authorization.k8s.io'],
];

describe('the operator service account', () => {
  it.each(used)('may %s %s', (verb, resource) => {
    expect(can(`c${suffix}`, clusterWide, verb, resource, watched)).toBe('yes');
    expect(can(`n${suffix}`, namespaced, verb, resource, watched)).toBe('yes');
  });

  it.each(unused)('may not %s %s', (verb, resource) => {
    expect(can(`c${suffix}`, clusterWide, verb, resource, watched)).toBe('no');
    expect(can(`n${suffix}`, namespaced, verb, resource, watched)).toBe('no');
  });

  it('reads no Secret outside the watched namespaces in namespaced mode', () => {
    expect(can(`n${suffix}`, namespaced, 'get', 'secrets', 'kube-system')).toBe('no');
    expect(can(`n${suffix}`, namespaced, 'list', 'secrets', 'default')).toBe('no');
  });
});
