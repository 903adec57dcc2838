import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ROLE_LABEL } from '../src/builders/metadata.ts';
import { engineRoles, isEnginePod, podCounts, rolesUnknown } from '../src/controller/roles.ts';

type PodModifier = (pod: V1Pod) => void;
const ready: PodModifier = (pod) => {
  pod.status = { conditions: [{ type: 'Ready', status: 'True' }] };
};
const labelled =
  (role: string): PodModifier =>
  (pod) => {
    pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, [ROLE_LABEL]: role } };
  };
const terminating: PodModifier = (pod) => {
  pod.metadata = { ...pod.metadata, deletionTimestamp: new Date('2026-01-01T00:00:00Z') };
};
/** A pod someone made by hand, with the engine's labels but no ReplicaSet behind it. */
const handMade: PodModifier = (pod) => {
  pod.metadata = { ...pod.metadata, ownerReferences: [] };
};
/** An engine pod of Deployment `alpha`, as its ReplicaSet makes them. */
function pod(name: string, ...modifiers: PodModifier[]): V1Pod {
  const object: V1Pod = {
    metadata: {
      name,
      labels: { 'pod-template-hash': '5f6d' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'alpha-5f6d',
          uid: 'rs',
          controller: true,
        },
      ],
    },
  };
  for (const modify of modifiers) modify(object);
  return object;
}

describe('engine roles', () => {
  it('make the lock holder active and every other engine a standby, demoting before promoting', () => {
    const roles = engineRoles(
      [pod('a', ready, labelled('standby')), pod('b', ready, labelled('active')), pod('c')],
      'alpha',
      'a',
      3,
    );
    expect(roles.active).toBe('a');
    expect(roles.standbys).toEqual(['b']);
    expect(roles.relabel).toEqual([
      ['b', 'standby'],
      ['c', 'standby'],
      ['a', 'active'],
    ]);
    expect(roles.available).toMatchObject({ status: 'True', reason: 'ActiveEngineReady' });
    expect(roles.available.message).toBe('a is active; 2/3 engine pods ready (1 standing by)');
  });

  it('need no writes once the labels match', () => {
    expect(engineRoles([pod('a', ready, labelled('active'))], 'alpha', 'a', 1).relabel).toEqual([]);
  });

  it("count only the Deployment's own pods, and take the role label off a look-alike", () => {
    const impostor = pod('impostor', ready, labelled('active'), handMade);
    expect(isEnginePod(impostor, 'alpha')).toBe(false);
    expect(isEnginePod(pod('a'), 'alpha')).toBe(true);
    expect(isEnginePod(pod('a'), 'beta')).toBe(false);
    const roles = engineRoles(
      [impostor, pod('a', ready, labelled('active'))],
      'alpha',
      'impostor',
      1,
    );
    expect(roles.active).toBeUndefined();
    expect(roles.relabel).toEqual([
      ['impostor', undefined],
      ['a', 'standby'],
    ]);
    expect(roles.available.reason).toBe('LockHeldElsewhere');
  });

  it('never keep a pod that is being deleted active, and say a standby is about to take over', () => {
    const roles = engineRoles(
      [pod('old', ready, labelled('active'), terminating), pod('new', ready, labelled('standby'))],
      'alpha',
      'old',
      2,
    );
    expect(roles.active).toBeUndefined();
    expect(roles.relabel).toEqual([]);
    expect(roles.available).toMatchObject({ status: 'False', reason: 'ActiveEngineStopping' });
  });

  it('say why the instance is not available', () => {
    expect(engineRoles([pod('a', ready)], 'alpha', undefined, 1).available).toMatchObject({
      status: 'False',
      reason: 'NoActiveEngine',
      message: 'no engine holds the instance lock yet; 1/1 engine pods ready',
    });
    expect(engineRoles([pod('a')], 'alpha', 'a', 1).available.reason).toBe('ActiveEngineNotReady');
    expect(engineRoles([pod('a', ready)], 'alpha', 'laptop', 1).available).toMatchObject({
      reason: 'LockHeldElsewhere',
      message: expect.stringContaining('"laptop", which is not a pod of this instance'),
    });
    expect(engineRoles([], 'alpha', undefined, 0).available).toMatchObject({
      status: 'True',
      reason: 'ScaledToZero',
    });
  });
});

describe('pod counts', () => {
  it("count the Deployment's own pods that are not going, and the ready ones among them", () => {
    const pods = [
      pod('a', ready),
      pod('b'),
      pod('old', ready, terminating),
      pod('impostor', ready, handMade),
    ];
    expect(podCounts(pods, 'alpha')).toEqual({ live: 2, ready: 1 });
    expect(podCounts([], 'alpha')).toEqual({ live: 0, ready: 0 });
  });
});

describe('roles that cannot be read', () => {
  it('leave every pod as it is and say why availability is unknown', () => {
    const roles = rolesUnknown('PostgreSQL is unavailable');
    expect(roles.relabel).toEqual([]);
    expect(roles.available).toMatchObject({ status: 'Unknown', reason: 'EngineRoleUnknown' });
    expect(roles.available.message).toMatch(/^PostgreSQL is unavailable: which engine trades/);
  });
});
