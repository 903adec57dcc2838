import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { RecentWrites } from '../src/controller/apply.ts';

const secret = (resourceVersion: string, owner = 'uid-a'): KubernetesObject => ({
  kind: 'Secret',
  metadata: {
    name: 's',
    namespace: 'n',
    resourceVersion,
    ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: owner, controller: true }],
  },
});

describe('RecentWrites', () => {
  it('tells its own write coming back from another change of the object', () => {
    const writes = new RecentWrites({ now: () => 0 });
    const written = secret('5');
    writes.remember(RecentWrites.keyOf(written), written);
    expect(writes.isEcho(secret('5'))).toBe(true);
    expect(writes.isEcho(secret('6'))).toBe(false);
    expect(writes.isEcho({ ...secret('5'), kind: 'ConfigMap' })).toBe(false);
  });

  it('stands in for the cache until it catches up', () => {
    const writes = new RecentWrites({ now: () => 0 });
    writes.remember('k', secret('5'));
    expect(writes.fresher('k', undefined)?.metadata?.resourceVersion).toBe('5');
    expect(writes.fresher('k', secret('4'))?.metadata?.resourceVersion).toBe('5');
    expect(writes.fresher('k', secret('5'))?.metadata?.resourceVersion).toBe('5');
    // caught up: forgotten
    expect(writes.fresher('k', undefined)).toBeUndefined();
  });

  it('does not stand in for an object the cache still lacks after a moment: it was deleted', () => {
    let now = 0;
    const writes = new RecentWrites({ graceMs: 1000, now: () => now });
    writes.remember('k', secret('5'));
    now = 1500;
    expect(writes.fresher('k', undefined)).toBeUndefined();
  });

  it('does not stand in for an object written for an earlier owner of the name', () => {
    const writes = new RecentWrites({ now: () => 0 });
    writes.remember('k', secret('5', 'uid-old'));
    expect(writes.fresher('k', undefined, 'uid-new')).toBeUndefined();
  });

  it('forgets writes six grace periods old when it remembers another, asked for or not', () => {
    let now = 0;
    const writes = new RecentWrites({ graceMs: 1000, now: () => now });
    writes.remember('old', secret('5'));
    now = 3000;
    writes.remember('newer', secret('6'));
    now = 6500;
    writes.remember('newest', secret('7'));
    // The cache still has an older copy: 'old' would have stood in for it, but it is gone.
    expect(writes.fresher('old', secret('4'))?.metadata?.resourceVersion).toBe('4');
    expect(writes.fresher('newer', secret('4'))?.metadata?.resourceVersion).toBe('6');
  });
});
