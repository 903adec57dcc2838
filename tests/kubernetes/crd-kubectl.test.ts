import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrd, type Kube, kube } from '../support/kube.ts';

const namespace = `crd-${randomBytes(3).toString('hex')}`;
let k: Kube;

const kubectl = (args: string[], input?: string): SpawnSyncReturns<string> =>
  spawnSync(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], {
    input,
    encoding: 'utf8',
  });

const manifest = (name: string, spec: string) => `
apiVersion: trading.tse.io/v1alpha1
kind: TradingEngineInstance
metadata: {name: ${name}, namespace: ${namespace}}
spec: ${spec}
`;

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await installCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  const created = kubectl(
    ['apply', '-f', '-'],
    manifest(
      'lh',
      '{instanceName: trading-system-engine-LH, replicas: 1, risk: {maxPositionSize: "1000", maxDailyLoss: "25000.50"}, resources: {requests: {cpu: 1, memory: 256Mi}}}',
    ),
  );
  expect(created.stderr).toBe('');
});

describe('the CRD as kubectl users see it', () => {
  it('prints one NAMESPACE column in `kubectl get tei -A`', () => {
    const result = kubectl(['get', 'tei', '-A']);
    expect(result.status).toBe(0);
    const header = result.stdout.split('\n')[0]?.trim().split(/\s+/) ?? [];
    expect(header.filter((column) => column === 'NAMESPACE')).toEqual(['NAMESPACE']);
    expect(header).toContain('REDIS-NS');
  });

  it('scales with `kubectl scale tei`', () => {
    const scaled = kubectl(['scale', 'tei', 'lh', '-n', namespace, '--replicas=3']);
    expect(scaled.stderr).toBe('');
    expect(scaled.stdout).toMatch(/scaled/);
    const replicas = kubectl([
      'get',
      'tei',
      'lh',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    expect(replicas.stdout).toBe('3');
  });

  it('keeps the risk limits as the decimal strings written and quantities as given', () => {
    const spec = JSON.parse(
      kubectl(['get', 'tei', 'lh', '-n', namespace, '-o', 'jsonpath={.spec}']).stdout,
    );
    expect(spec.risk).toEqual({ maxPositionSize: '1000', maxDailyLoss: '25000.50' });
    expect(spec.resources).toEqual({ requests: { cpu: 1, memory: '256Mi' } });
  });

  it.each([
    [
      'a quantity that is not one',
      '{resources: {limits: {memory: lots}}}',
      /spec.resources.limits.memory/,
    ],
    [
      'a risk limit that is not a decimal string',
      '{risk: {maxDailyLoss: "1e3"}}',
      /spec.risk.maxDailyLoss/,
    ],
  ])('refuses %s, naming the field', (_what, spec, field) => {
    const result = kubectl(['apply', '--dry-run=server', '-f', '-'], manifest('bad', spec));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(field);
  });

  it('explains the status fields', () => {
    const result = kubectl(['explain', 'tei.status.identity.redisNamespace']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Redis key namespace/);
  });
});
