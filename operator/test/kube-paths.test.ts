import type { V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { resourcePath } from '../src/runtime/kube.ts';
import { podProjection, secretProjection } from '../src/runtime/sources.ts';

describe('resourcePath', () => {
  it('builds core, group, cluster-wide and object paths', () => {
    expect(resourcePath('v1', 'Secret', 'a')).toBe('/api/v1/namespaces/a/secrets');
    expect(resourcePath('networking.k8s.io/v1', 'NetworkPolicy', 'a', 'p')).toBe(
      '/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/p',
    );
    expect(resourcePath('apps/v1', 'Deployment', '')).toBe('/apis/apps/v1/deployments');
  });

  it('refuses a name that URL parsing would turn into another resource', () => {
    for (const name of ['.', '..', 'a/b', '', 'A', 'x..y', '%2e'])
      expect(() => resourcePath('v1', 'Secret', 'a', name)).toThrow(
        'is not a Kubernetes object name',
      );
    expect(() => resourcePath('v1', 'Secret', '..', 's')).toThrow('namespace ".."');
  });
});

describe('cache projections', () => {
  const owner = {
    apiVersion: 'trading.tse.io/v1alpha1',
    kind: 'TradingEngineInstance',
    name: 'i',
    uid: 'u',
    controller: true,
  };
  const secret = (ownerReferences?: (typeof owner)[]): V1Secret => ({
    metadata: { name: 's', namespace: 'n', ownerReferences, managedFields: [{ manager: 'x' }] },
    data: { password: 'cGFzcw==' },
  });

  it("keeps a Secret's data only when an instance controls it, and never managedFields", () => {
    expect(secretProjection(secret([owner]))).toEqual({
      metadata: { name: 's', namespace: 'n', ownerReferences: [owner] },
      data: { password: 'cGFzcw==' },
    });
    // A Secret someone labelled as the operator's: its data costs nothing.
    expect(secretProjection(secret()).data).toBeUndefined();
    expect(secretProjection(secret([{ ...owner, controller: false }])).data).toBeUndefined();
  });

  it('keeps of a pod its owner, labels, deletion and readiness only', () => {
    const pod = podProjection({
      metadata: {
        name: 'p',
        namespace: 'n',
        labels: { a: 'b' },
        annotations: { big: 'x'.repeat(1000) },
        deletionTimestamp: '2026-01-01T00:00:00Z' as unknown as Date,
      },
      spec: { containers: [{ name: 'c', image: 'i' }] },
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:01:00Z' as never },
          { type: 'ContainersReady', status: 'True' },
        ],
      },
    });
    expect(pod).toEqual({
      apiVersion: undefined,
      kind: undefined,
      metadata: {
        name: 'p',
        namespace: 'n',
        uid: undefined,
        resourceVersion: undefined,
        labels: { a: 'b' },
        ownerReferences: undefined,
        deletionTimestamp: '2026-01-01T00:00:00Z',
      },
      status: {
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:01:00Z' }],
      },
    });
  });
});
