import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { CacheIndex, type WatchEvent } from '../src/runtime/informer.ts';

const pod = (name: string, instance?: string): KubernetesObject => ({
  metadata: { name, namespace: 'trading', labels: instance ? { instance } : {} },
});

describe('a cache index', () => {
  it('groups what the cache held, then follows its events', () => {
    let emit: (event: WatchEvent, object: KubernetesObject) => void = () => {};
    const index = new CacheIndex(
      { list: () => [pod('a-1', 'a'), pod('b-1', 'b'), pod('loose')], on: (h) => (emit = h) },
      (object) => object.metadata?.labels?.instance,
    );
    const names = (group: string) => index.get(group).map((object) => object.metadata?.name);
    expect(names('a')).toEqual(['a-1']);
    expect(names('b')).toEqual(['b-1']);

    emit('add', pod('a-2', 'a'));
    expect(names('a')).toEqual(['a-1', 'a-2']);
    // Relabelled: it leaves its old group.
    emit('update', pod('a-1', 'b'));
    expect(names('a')).toEqual(['a-2']);
    expect(names('b')).toEqual(['b-1', 'a-1']);
    // Its label removed: in no group.
    emit('update', pod('b-1'));
    expect(names('b')).toEqual(['a-1']);
    emit('delete', pod('a-2', 'a'));
    expect(names('a')).toEqual([]);
    expect(names('nobody')).toEqual([]);
  });
});
