import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ForeignObjectError, foreignObjectRefusal } from '../src/controller/ownership.ts';

const secret = (owners: { uid: string; controller?: boolean }[] = []): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 'lh-credentials',
    namespace: 'trading',
    ownerReferences: owners.map((owner) => ({
      apiVersion: 'trading.tse.io/v1alpha1',
      kind: 'TradingEngineInstance',
      name: 'lh',
      ...owner,
    })),
  },
});
const desired = secret([{ uid: 'ours', controller: true }]);

describe('foreignObjectRefusal', () => {
  it('lets the operator create what does not exist, and update what it controls', () => {
    expect(foreignObjectRefusal(desired, undefined)).toBeUndefined();
    expect(
      foreignObjectRefusal(desired, secret([{ uid: 'ours', controller: true }])),
    ).toBeUndefined();
  });

  it.each<[string, KubernetesObject]>([
    ['an object without owners', secret()],
    ['an object another instance controls', secret([{ uid: 'theirs', controller: true }])],
    ['an object we own but do not control', secret([{ uid: 'ours', controller: false }])],
  ])('refuses %s, saying what exists and what to do', (_, live) => {
    const refusal = foreignObjectRefusal(desired, live);
    expect(refusal).toBeInstanceOf(ForeignObjectError);
    expect(refusal?.message).toMatch(
      /Secret "lh-credentials" already exists in namespace "trading" and is not controlled by this instance; nothing was changed: delete or rename/,
    );
  });

  it('refuses everything when the desired object names no controller', () => {
    expect(foreignObjectRefusal(secret(), secret())).toBeInstanceOf(ForeignObjectError);
  });
});
