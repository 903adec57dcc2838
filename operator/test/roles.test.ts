import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ROLE_LABEL } from '../src/builders/metadata.ts';
import { engineRoles, rolesUnknown } from '../src/controller/roles.ts';

type PodModifier = (pod: V1Pod) => void;
const ready: PodModifier = (pod) => {
  pod.status = { conditions: [{ type: 'Ready', status: 'True' }] };
};
const labelled =
  (role: string): PodModifier =>
  (pod) => {
    pod.metadata = { ...pod.metadata, labels: { [ROLE_LABEL]: role } };
  };
const terminating: PodModifier = (pod) => {
  pod.metadata = { ...pod.metadata, deletionTimestamp: new Date('2026-01-01T00:00:00Z') };
};
function pod(name: string, ...modifiers: PodModifier[]): V1Pod {
  const object: V1Pod = { metadata: { name } };
  for (const modify of modifiers) modify(object);
  return object;
}

describe('engine roles', () => {
  it('make the lock holder active and every other pod a standby, relabelling only what differs', () => {
    const roles = engineRoles(
      [pod('a', ready, labelled('standby')), pod('b', ready, labelled('standby')), pod('c')],
      'a',
      3,
    );
    expect(roles.active).toBe('a');
    expect(roles.standbys).toEqual(['b']);
    expect([...roles.relabel]).toEqual([
      ['a', 'active'],
      ['c', 'standby'],
    ]);
    expect(roles.available).toMatchObject({ status: 'True', reason: 'ActiveEngineReady' });
    expect(roles.available.message).toBe('a is active; 2/3 engine pods ready (1 standing by)');
  });

  it('need no writes once the labels match', () => {
    const roles = engineRoles([pod('a', ready, labelled('active'))], 'a', 1);
    expect(roles.relabel.size).toBe(0);
  });

  it('never keep a pod that is being deleted active, even while its engine still holds the lock', () => {
    const roles = engineRoles(
      [pod('old', ready, labelled('active'), terminating), pod('new', ready, labelled('standby'))],
      'old',
      2,
    );
    expect(roles.active).toBeUndefined();
    expect(roles.relabel.size).toBe(0);
    expect(roles.available).toMatchObject({ status: 'False', reason: 'LockHeldElsewhere' });
  });

  it('say why the instance is not available', () => {
    expect(engineRoles([pod('a', ready)], undefined, 1).available).toMatchObject({
      status: 'False',
      reason: 'NoActiveEngine',
      message: 'no engine holds the instance lock yet; 1/1 engine pods ready',
    });
    expect(engineRoles([pod('a')], 'a', 1).available.reason).toBe('ActiveEngineNotReady');
    expect(engineRoles([pod('a', ready)], 'laptop', 1).available).toMatchObject({
      reason: 'LockHeldElsewhere',
      message: expect.stringContaining('"laptop", which is not a pod of this instance'),
    });
    expect(engineRoles([], undefined, 0).available).toMatchObject({
      status: 'True',
      reason: 'ScaledToZero',
    });
  });
});

describe('roles that cannot be read', () => {
  it('leave every pod as it is and say why availability is unknown', () => {
    const roles = rolesUnknown('PostgreSQL is unavailable');
    expect(roles.relabel.size).toBe(0);
    expect(roles.available).toMatchObject({ status: 'Unknown', reason: 'EngineRoleUnknown' });
    expect(roles.available.message).toMatch(/^PostgreSQL is unavailable: which engine trades/);
  });
});
