import type { KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { OwnedObjects, RecentWrites } from '../src/controller/apply.ts';
import type { ReconcilerDependencies } from '../src/controller/context.ts';

const desired: KubernetesObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 's',
    namespace: 'n',
    ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'uid-a', controller: true }],
  },
};

/**
 * The object's writes through a writer that counts what it is asked; `reads`
 * are what its reads answer in turn (then nothing), and `existing` is what
 * holds the name when a create is tried (a 409, as the API server answers
 * an apply whose resourceVersion precondition fails).
 */
function owned({
  reads = [],
  existing,
}: {
  reads?: KubernetesObject[];
  existing?: KubernetesObject;
} = {}) {
  const asked: string[] = [];
  const stored = (object: KubernetesObject) => ({
    ...object,
    metadata: { ...object.metadata, resourceVersion: '5' },
  });
  const writer = {
    read: async () => {
      asked.push('read');
      return reads.shift();
    },
    create: async (object: KubernetesObject) => {
      asked.push('create');
      if (existing) throw Object.assign(new Error('conflict'), { code: 409 });
      return stored(object);
    },
    apply: async (object: KubernetesObject) => {
      asked.push('apply');
      return stored(object);
    },
  };
  const deps = { writer, log: pino({ level: 'silent' }) } as unknown as ReconcilerDependencies;
  return { objects: new OwnedObjects(deps, new RecentWrites()), asked };
}

describe('OwnedObjects.ensure', () => {
  it('creates an object nobody has without reading first: the create fails on any of its name', async () => {
    const { objects, asked } = owned();
    await objects.ensure(desired, undefined);
    expect(asked).toEqual(['create']);
  });

  it('refuses a foreign object it was handed, and writes nothing', async () => {
    const foreign = { ...desired, metadata: { name: 's', namespace: 'n', uid: 'someone' } };
    const { objects, asked } = owned();
    await expect(objects.ensure(desired, foreign)).rejects.toThrow(
      /already exists in namespace "n" and is not controlled by this instance/,
    );
    expect(asked).toEqual([]);
  });

  it('refuses, untouched, a foreign object that holds the name it meant to create', async () => {
    const foreign = { ...desired, metadata: { name: 's', namespace: 'n', uid: 'someone' } };
    const { objects, asked } = owned({ reads: [foreign], existing: foreign });
    await expect(objects.ensure(desired, undefined)).rejects.toThrow(
      /already exists in namespace "n" and is not controlled by this instance/,
    );
    // The create met it (409, nothing written); the read that followed found it foreign.
    expect(asked).toEqual(['create', 'read']);
  });

  it('goes on with one of its own the caches lack, and retries one gone again', async () => {
    const ours = { ...desired, metadata: { ...desired.metadata, resourceVersion: '7' } };
    const found = owned({ reads: [ours], existing: ours });
    expect(await found.objects.ensure(desired, undefined)).toBe(ours);
    expect(found.asked).toEqual(['create', 'read']);

    const gone = owned({ reads: [], existing: ours });
    // Not a refusal of the API server's: a plain error, retried by the queue.
    await expect(gone.objects.ensure(desired, undefined)).rejects.toThrow(
      /^Secret "s" came and went meanwhile$/,
    );
    expect(gone.asked).toEqual(['create', 'read']);
  });

  it('does not write over one of its own that appeared, when built from what was there', async () => {
    // The credentials: passwords chosen because no Secret was found must not replace a Secret's.
    const ours = { ...desired, metadata: { ...desired.metadata, resourceVersion: '7' } };
    const { objects, asked } = owned({ reads: [ours], existing: ours });
    await expect(objects.ensure(desired, undefined, { builtFromLive: true })).rejects.toThrow(
      /^Secret "s" appeared meanwhile$/,
    );
    expect(asked).toEqual(['create', 'read']);
  });
});
