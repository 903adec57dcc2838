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

type Store = 'postgres' | 'redis';
const CONDITION = { postgres: 'DatabaseReady', redis: 'CacheReady' } as const;

/**
 * An instance as the operator leaves it once `stores` confirmed its names
 * (both by default) on the servers it uses now; the others False. `on`:
 * other servers than its own, as after its admin Secret was changed.
 */
const provisioned = (
  object: TradingEngineInstance,
  {
    stores = ['postgres', 'redis'] as Store[],
    status = 'True' as 'True' | 'Unknown',
    on = admin.storeKeys(object),
  } = {},
): TradingEngineInstance => ({
  ...object,
  status: {
    conditions: (['postgres', 'redis'] as const).map((store) => ({
      type: CONDITION[store],
      status: stores.includes(store) ? status : 'False',
      reason: stores.includes(store) ? 'Provisioned' : 'PostgresAdminAuthentication',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    })),
    stores: Object.fromEntries(stores.map((store) => [store, on[store]])),
  },
});

/**
 * What the arbiter decided before it had an index: every instance's claim
 * (on the names it holds, for the others), arbitrated at once.
 */
function everyClaim(all: TradingEngineInstance[], me: TradingEngineInstance): string | undefined {
  const claims: Claim[] = all.flatMap((other) => {
    const identity = resolveIdentity(other);
    const now = admin.storeKeys(other);
    const held = (store: Store) =>
      ['True', 'Unknown'].includes(
        other.status?.conditions?.find((c) => c.type === CONDITION[store])?.status ?? '',
      )
        ? other.status?.stores?.[store]
        : undefined;
    const asks = other.metadata.uid === me.metadata.uid;
    const on = asks ? now : { postgres: held('postgres'), redis: held('redis') };
    if (!asks && !on.postgres && !on.redis) return [];
    return [
      {
        key: keyOf(other),
        createdAt: other.metadata.creationTimestamp,
        holds: !asks || (held('postgres') === now.postgres && held('redis') === now.redis),
        identity: {
          ...(on.postgres && {
            postgresSchema: `${encodeURIComponent(on.postgres)}|${identity.postgresSchema}`,
          }),
          ...(on.redis && {
            redisNamespace: `${encodeURIComponent(on.redis)}|${identity.redisNamespace}`,
          }),
        },
      },
    ];
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
    cache.put(provisioned(holder, { status: 'Unknown' }));
    cache.put(later);
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toMatch(
      /already held by b-one\/holder/,
    );
    cache.put(provisioned(holder, { stores: [] }));
    expect(arbiter.conflictOf(later, resolveIdentity(later))).toBeUndefined();
  });

  it('counts a name held only on the server that confirmed it, store by store', () => {
    const cache = new FakeInstances();
    const arbiter = new NameArbiter(cache, admin);
    // Both ask for schema "vault" and namespace "vault" on the b- servers.
    const names = withSpec({ postgres: { schema: 'vault' }, redis: { namespace: 'vault' } });
    const squatter = instance('squatter', names, inNamespace('b-evil'));
    const victim = instance(
      'victim',
      names,
      inNamespace('b-one'),
      createdAt('2026-01-02T00:00:00Z'),
    );
    const elsewhere = admin.storeKeys(instance('x', inNamespace('a-x')));
    cache.put(victim);
    // Its Redis confirmed, its PostgreSQL admin Secret pointed at the victim's server with
    // credentials that server refuses: the namespace is held, the schema is not.
    cache.put(provisioned(squatter, { stores: ['redis'] }));
    expect(arbiter.conflictOf(victim, resolveIdentity(victim))).toMatch(
      /^it uses Redis namespace "vault" already held/,
    );
    // Confirmed on other servers than those its admin Secrets name now: nothing is held here,
    // whatever its conditions say.
    cache.put(provisioned(squatter, { on: elsewhere }));
    expect(arbiter.conflictOf(victim, resolveIdentity(victim))).toBeUndefined();
    cache.put(provisioned(squatter, { on: elsewhere, status: 'Unknown' }));
    expect(arbiter.conflictOf(victim, resolveIdentity(victim))).toBeUndefined();
    cache.put(provisioned(squatter, { stores: ['postgres'] }));
    expect(arbiter.conflictOf(victim, resolveIdentity(victim))).toMatch(
      /^it uses PostgreSQL schema "vault" already held/,
    );
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
        const stores = pick<Store[]>([['postgres', 'redis'], ['postgres'], ['redis']]);
        const status = pick<'True' | 'Unknown'>(['True', 'True', 'Unknown']);
        // Some were confirmed on the other servers, before their admin Secrets changed.
        const on = admin.storeKeys(
          instance(
            'x',
            inNamespace(next() < 0.2 ? pick(['a-x', 'b-x']) : object.metadata.namespace),
          ),
        );
        cache.put(next() < 0.6 ? provisioned(object, { stores, status, on }) : object);
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
