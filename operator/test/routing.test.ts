import { describe, expect, it } from 'vitest';
import { instancePriority, ownedPriority, ownerRouter } from '../src/manager.ts';

const instance = (
  generation: number,
  status?: { observedGeneration?: number },
  deleting = false,
) => ({
  metadata: {
    namespace: 'ns',
    name: 'engine',
    generation,
    ...(deleting && { deletionTimestamp: new Date() }),
  },
  ...(status && { status }),
});

describe('instancePriority', () => {
  it('is low for an instance met again, already reconciled at its generation', () => {
    expect(instancePriority('add', instance(3, { observedGeneration: 3 }))).toBe('low');
  });

  it('is high for a new instance, or one changed while no operator watched', () => {
    expect(instancePriority('add', instance(1))).toBe('high');
    expect(instancePriority('add', instance(4, { observedGeneration: 3 }))).toBe('high');
    expect(instancePriority('add', instance(3, { observedGeneration: 3 }, true))).toBe('high');
  });

  it('is high for every update and delete that reaches it', () => {
    expect(instancePriority('update', instance(3, { observedGeneration: 3 }))).toBe('high');
    expect(instancePriority('delete', instance(3, { observedGeneration: 3 }))).toBe('high');
  });
});

describe('ownedPriority', () => {
  const listing = { hasSynced: () => false };
  const synced = { hasSynced: () => true };

  it('is low for the objects of a cache still in its first LIST', () => {
    expect(ownedPriority('add', listing)).toBe('low');
  });

  it('is high for every change once the cache has listed', () => {
    expect(ownedPriority('add', synced)).toBe('high');
    expect(ownedPriority('update', synced)).toBe('high');
    expect(ownedPriority('delete', synced)).toBe('high');
    expect(ownedPriority('update', listing)).toBe('high');
  });
});

describe('ownerRouter', () => {
  const pod = (resourceVersion: string, instance?: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: 'ns',
      name: 'p',
      resourceVersion,
      labels: instance ? { 'trading.tse.io/instance': instance } : {},
    },
  });
  const routed = (event: 'add' | 'update' | 'delete', ...objects: ReturnType<typeof pod>[]) => {
    const added: string[] = [];
    const route = ownerRouter(
      { add: (key) => added.push(key) },
      { hasSynced: () => true },
      // Revision 7 is the operator's own write.
      (object) => object.metadata?.resourceVersion === '7',
    );
    route(event, objects[0] as never, objects[1] as never);
    return added;
  };

  it('wakes the instance an object is labelled with', () => {
    expect(routed('add', pod('1', 'a'))).toEqual(['ns/a']);
    expect(routed('delete', pod('1', 'a'))).toEqual(['ns/a']);
    expect(routed('add', pod('1'))).toEqual([]);
  });

  it("wakes nobody for the operator's own write coming back, but for its deletion", () => {
    expect(routed('add', pod('7', 'a'))).toEqual([]);
    expect(routed('update', pod('7', 'b'), pod('1', 'a'))).toEqual([]);
    expect(routed('delete', pod('7', 'a'))).toEqual(['ns/a']);
  });

  it('wakes nobody for a new revision alone, and both instances for a relabel', () => {
    expect(routed('update', pod('2', 'a'), pod('1', 'a'))).toEqual([]);
    expect(routed('update', pod('2', 'b'), pod('1', 'a'))).toEqual(['ns/b', 'ns/a']);
    expect(routed('update', pod('2'), pod('1', 'a'))).toEqual(['ns/a']);
  });
});
