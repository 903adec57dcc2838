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

/** The object's writes through a writer that counts what it is asked. */
function owned() {
  const asked: string[] = [];
  const writer = {
    read: async () => {
      asked.push('read');
      return undefined;
    },
    apply: async (object: KubernetesObject) => {
      asked.push('apply');
      return { ...object, metadata: { ...object.metadata, resourceVersion: '1' } };
    },
  };
  const deps = { writer, log: pino({ level: 'silent' }) } as unknown as ReconcilerDependencies;
  return { objects: new OwnedObjects(deps, new RecentWrites()), asked };
}

describe('OwnedObjects.ensure', () => {
  it('reads an object the caches lack before creating it: an unlabelled one may hold the name', async () => {
    const { objects, asked } = owned();
    await objects.ensure(desired, undefined);
    expect(asked).toEqual(['read', 'apply']);
  });

  it('does not read it again when the caller has just read it', async () => {
    const { objects, asked } = owned();
    await objects.ensure(desired, undefined, { fromApiServer: true });
    expect(asked).toEqual(['apply']);
  });

  it('refuses a foreign object it was handed, read or cached, and writes nothing', async () => {
    const foreign = { ...desired, metadata: { name: 's', namespace: 'n', uid: 'someone' } };
    for (const fromApiServer of [true, false]) {
      const { objects, asked } = owned();
      await expect(objects.ensure(desired, foreign, { fromApiServer })).rejects.toThrow(
        /already exists in namespace "n" and is not controlled by this instance/,
      );
      expect(asked).toEqual([]);
    }
  });
});
