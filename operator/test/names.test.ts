import type { KubernetesObject } from '@kubernetes/client-node';
import { type Claim, refusalOf } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import type { TradingEngineInstance } from '../src/api/schema.ts';
import { keyOf, resolveIdentity } from '../src/controller/identity.ts';
import { type InstanceSource, NameArbiter } from '../src/controller/names.ts';
import type { WatchEvent } from '../src/runtime/informer.ts';
import { createdAt, inNamespace, instance, withSpec } from './fixtures.ts';

/** The instances cache as the arbiter sees it: a list, and the events that change it. */
class FakeInstances implements InstanceSource {
  readonly objects = new Map<string, TradingEngineInstance>();
  private readonly handlers: ((event: WatchEvent, object: KubernetesObject) => void)[] = [];

  list(): KubernetesObject[] {
    return [...this.objects.values()] as unknown as KubernetesObject[];
  }

  on(handler: (event: WatchEvent, object: KubernetesObject) => void): void {
    this.handlers.push(handler);
  }

  put(object: TradingEngineInstance): void {
    const known = this.objects.has(keyOf(object));
    this.objects.set(keyOf(object), object);
    for (const handler of this.handlers)
      handler(known ? 'update' : 'add', object as unknown as KubernetesObject);
  }

  delete(object: TradingEngineInstance): void {
    this.objects.delete(keyOf(object));
    for (const handler of this.handlers) handler('delete', object as unknown as KubernetesObject);
  }
}

/** Namespaces `a-*` use one pair of servers, every other namespace another. */
const admin = {
  storeKeys: (object: TradingEngineInstance) =>
    object.metadata.namespace.startsWith('a-')
      ? { postgres: 'pg-a:5432/app', redis: 'redis-a:6379' }
      : { postgres: 'pg-b:5432/app', redis: 'redis-b:6379' },
};

const provisioned = (object: TradingEngineInstance): TradingEngineInstance => ({
  ...object,
  status: {
    conditions: [
      {
        type: 'DatabaseReady',
        status: 'True',
        reason: 'Provisioned',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ],
  },
});

/** What the arbiter decided before it had an index: every instance's claim, arbitrated at once. */
function everyClaim(all: TradingEngineInstance[], me: TradingEngineInstance): string | undefined {
  const claims: Claim[] = all
    .filter(
      (other) =>
        other.metadata.uid === me.metadata.uid ||
        other.status?.conditions?.some((c) => c.status === 'True'),
    )
    .map((other) => {
      const identity = resolveIdentity(other);
      const stores = admin.storeKeys(other);
      return {
        key: keyOf(other),
        createdAt: other.metadata.creationTimestamp,
        holds: other.status?.conditions?.some((c) => c.status === 'True') ?? false,
        identity: {
          postgresSchema: `${encodeURIComponent(stores.postgres)}|${identity.postgresSchema}`,
          redisNamespace: `${encodeURIComponent(stores.redis)}|${identity.redisNamespace}`,
        },
      };
    });
  return refusalOf(keyOf(me), claims)?.heldBy;
}

/** A small deterministic generator, so a failing case can be run again. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('name arbitration', () => {
  it('refuses a later instance that asks for a schema an earlier one holds, and names it', () => {
    const cache = new FakeInstances();
    const first = provisioned(
      instance('first', withSpec({ postgres: { schema: 'shared' } }), inNamespace('b-one')),
    );
    cache.put(first);
    const arbiter = new NameArbiter(cache, admin);
    const second = instance(
      'second',
      withSpec({ postgres: { schema: 'shared' } }),
      inNamespace('b-one'),
      createdAt('2026-01-02T00:00:00Z'),
    );
    cache.put(second);
    expect(arbiter.conflictOf(second, resolveIdentity(second))).toBe(
      'it uses PostgreSQL schema "shared" already held by b-one/first (created earlier); choose another instance name or set spec.postgres.schema / spec.redis.namespace',
    );
    expect(arbiter.conflictOf(first, resolveIdentity(first))).toBeUndefined();
  });

  it('keeps protecting a holder whose stores went down (Unknown), not one a store refused (False)', () => {
    const cache = new FakeInstances();
    const arbiter = new NameArbiter(cache, admin);
    const withStores = (object: TradingEngineInstance, status: 'Unknown' | 'False') => ({
      ...object,
      status: {
        conditions: (['DatabaseReady', 'CacheReady'] as const).map((type) => ({
          type,
          status,
          reason: status === 'Unknown' ? 'PostgresUnavailable' : 'PostgresNotOwned',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        })),
      },
    });
    const holder = instance(
      'holder',
      withSpec({ postgres: { schema: 'kept' } }),
      inNamespace('b-one'),
    );
    const later = instance(
      'later',
      withSpec({ postgres: { schema: 'kept' } }),
      inNamespace('b-one'),
      createdAt('2026-01-02T00:00:00Z'),
    );
    cache.put(withStores(holder, 'Unknown'));
    cache.put(later);
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toMatch(
      /already held by b-one\/holder/,
    );
    cache.put(withStores(holder, 'False'));
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toBeUndefined();
  });

  it('follows the cache: a deleted holder frees its names, a holder on another server never held them', () => {
    const cache = new FakeInstances();
    const arbiter = new NameArbiter(cache, admin);
    const holder = provisioned(
      instance('holder', withSpec({ redis: { namespace: 'desk' } }), inNamespace('b-one')),
    );
    const below = instance(
      'below',
      withSpec({ redis: { namespace: 'desk:eu' } }),
      inNamespace('b-two'),
      createdAt('2026-01-02T00:00:00Z'),
    );
    cache.put(holder);
    cache.put(below);
    expect(arbiter.conflictOf(below, resolveIdentity(below))).toMatch(
      /^its Redis namespace "desk:eu" overlaps "desk" \(one is a ":"-prefix of the other\) already held by an instance in another namespace/,
    );
    cache.delete(holder);
    expect(arbiter.conflictOf(below, resolveIdentity(below))).toBeUndefined();
    const elsewhere = provisioned(
      instance('elsewhere', withSpec({ redis: { namespace: 'desk' } }), inNamespace('a-one')),
    );
    cache.put(elsewhere);
    expect(arbiter.conflictOf(below, resolveIdentity(below))).toBeUndefined();
  });

  it('follows an instance whose names or state change: old names are freed, held names count once held', () => {
    const cache = new FakeInstances();
    const arbiter = new NameArbiter(cache, admin);
    const holder = instance(
      'holder',
      withSpec({ postgres: { schema: 'desk' } }),
      inNamespace('b-one'),
    );
    const later = instance(
      'later',
      withSpec({ postgres: { schema: 'desk' } }),
      inNamespace('b-one'),
      createdAt('2026-01-02T00:00:00Z'),
    );
    cache.put(holder);
    cache.put(later);
    // Not provisioned yet: the earlier instance holds nothing.
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toBeUndefined();
    cache.put(provisioned(holder));
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toContain('held by b-one/holder');
    // The holder moves to another schema: "desk" is free.
    cache.put(
      provisioned(
        instance('holder', withSpec({ postgres: { schema: 'other' } }), inNamespace('b-one')),
      ),
    );
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toBeUndefined();
    // Back on "desk", then no longer a valid instance: it claims nothing.
    cache.put(provisioned(holder));
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toContain('held by b-one/holder');
    cache.put({
      ...provisioned(holder),
      spec: { replicas: 'many' },
    } as unknown as TradingEngineInstance);
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toBeUndefined();
  });

  it('decides as arbitrating every claim at once would, for any mix of names, ages and servers', () => {
    const next = random(7);
    const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)] as T;
    const decisions = { refused: 0, kept: 0 };
    for (let round = 0; round < 40; round++) {
      const cache = new FakeInstances();
      const arbiter = new NameArbiter(cache, admin);
      for (let i = 0; i < 30; i++) {
        const object = instance(
          `engine-${round}-${i}`,
          withSpec({
            // Mostly names of their own: a clash must be found through the names that clash.
            postgres: { schema: pick(['alpha', 'beta', `own_${i}`, `own_${i}`, `own_${i}`]) },
            redis: { namespace: pick(['desk', 'desk:eu', 'desk:eu:fx', 'book', `own-${i}`]) },
          }),
          inNamespace(pick(['a-one', 'a-two', 'b-one'])),
          createdAt(`2026-01-0${1 + Math.floor(next() * 3)}T00:00:00Z`),
        );
        cache.put(next() < 0.6 ? provisioned(object) : object);
        // Some leave, as instances do.
        if (next() < 0.1) cache.delete(pick([...cache.objects.values()]));
      }
      const all = [...cache.objects.values()];
      for (const object of all) {
        const decided = arbiter.conflictOf(object, resolveIdentity(object));
        const expected = everyClaim(all, object);
        expect(decided === undefined, `${keyOf(object)} in round ${round}`).toBe(
          expected === undefined,
        );
        decisions[decided === undefined ? 'kept' : 'refused']++;
        if (expected?.startsWith(`${object.metadata.namespace}/`))
          expect(decided).toContain(`held by ${expected} `);
      }
    }
    // Both outcomes were met, many times.
    expect(decisions.refused).toBeGreaterThan(100);
    expect(decisions.kept).toBeGreaterThan(100);
  });
});
