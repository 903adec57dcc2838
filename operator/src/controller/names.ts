import type { KubernetesObject } from '@kubernetes/client-node';
import { type Claim, type Identity, namespacePrefixes, refusalOf } from '@tse/adapter';
import { type TradingEngineInstance, tradingEngineInstance } from '../api/schema.ts';
import { objectKey } from '../runtime/kube.ts';
import type { AdminConnections } from './admin.ts';
import { findCondition } from './conditions.ts';
import type { Caches } from './context.ts';
import { holdsStoreNames } from './decisions.ts';
import { keyOf, resolveIdentity } from './identity.ts';

/** What the arbiter reads of the instances cache: its objects, and word of each change. */
export type InstanceSource = Pick<Caches['instances'], 'list' | 'on'>;

/**
 * Name arbitration: which instance may use a PostgreSQL schema or Redis
 * namespace when several ask for it. The earliest that a store confirmed
 * keeps it; the others are told who (within their namespace) holds it.
 */
export class NameArbiter {
  private readonly admin: Pick<AdminConnections, 'storeKeys'>;
  private readonly claims = new ClaimIndex();

  constructor(instances: InstanceSource, admin: Pick<AdminConnections, 'storeKeys'>) {
    this.admin = admin;
    for (const raw of instances.list()) this.claims.put(raw);
    instances.on((event, raw) => {
      if (event === 'delete') this.claims.remove(raw);
      else this.claims.put(raw);
    });
  }

  /**
   * Why this instance may not have its names, or undefined when it keeps
   * them. Names clash only on a shared server: a schema on the same
   * PostgreSQL, a namespace on the same Redis, so each name is qualified by
   * its server before the claims are arbitrated. Only the instances whose
   * names connect to this one's are looked at (found through the index, by
   * name alone: a superset of those on the same servers), so a reconcile
   * costs the same among five thousand instances as among five.
   */
  conflictOf(instance: TradingEngineInstance, identity: Identity): string | undefined {
    const me = keyOf(instance);
    const identities = new Map<string, Identity>([[me, identity]]);
    const claims: Claim[] = [this.claimOf(instance, identity, 'asks')];
    for (const other of this.claims.connectedTo(me, identity)) {
      // Only names a store has confirmed are held: an instance that never provisions squats nothing.
      // Two new claims at once are settled by the stores' own markers (role comment, ownership record).
      const claim = this.claimOf(other.instance, other.identity, 'holds');
      if (!claim) continue;
      identities.set(keyOf(other.instance), other.identity);
      claims.push(claim);
    }
    const refusal = refusalOf(me, claims);
    if (!refusal) return undefined;
    const held = identities.get(refusal.heldBy);
    const what = {
      schema: `it uses PostgreSQL schema "${identity.postgresSchema}"`,
      namespace: `it uses Redis namespace "${identity.redisNamespace}"`,
      'namespace-prefix': `its Redis namespace "${identity.redisNamespace}" overlaps "${held?.redisNamespace}" (one is a ":"-prefix of the other)`,
    }[refusal.conflict.kind];
    // Who holds a name is told only within the same namespace: others learn only that it is taken.
    const holder = refusal.heldBy.startsWith(`${instance.metadata.namespace}/`)
      ? refusal.heldBy
      : 'an instance in another namespace';
    return `${what} already held by ${holder} (created earlier); choose another instance name or set spec.postgres.schema / spec.redis.namespace`;
  }

  /**
   * An instance's claim, its names qualified by servers: every name it
   * `asks` for, on the servers its admin Secrets name now; or only those it
   * `holds`, on the servers that confirmed them (undefined when it holds
   * none). An asking instance counts as holding only when it holds every
   * name it asks for there: a name held on one store says nothing of the
   * other's.
   */
  private claimOf(instance: TradingEngineInstance, identity: Identity, what: 'asks'): Claim;
  private claimOf(
    instance: TradingEngineInstance,
    identity: Identity,
    what: 'holds',
  ): Claim | undefined;
  private claimOf(
    instance: TradingEngineInstance,
    identity: Identity,
    what: 'asks' | 'holds',
  ): Claim | undefined {
    const held = heldServers(instance);
    const asks = what === 'asks';
    if (!asks && !held.postgres && !held.redis) return undefined;
    const now = this.admin.storeKeys(instance);
    const servers = asks ? now : held;
    const qualified = (server: string | undefined, name: string) =>
      server === undefined ? undefined : `${encodeURIComponent(server)}|${name}`;
    const postgresSchema = qualified(servers.postgres, identity.postgresSchema);
    const redisNamespace = qualified(servers.redis, identity.redisNamespace);
    return {
      key: keyOf(instance),
      createdAt: instance.metadata.creationTimestamp,
      holds: asks ? held.postgres === now.postgres && held.redis === now.redis : true,
      identity: {
        ...(postgresSchema !== undefined && { postgresSchema }),
        ...(redisNamespace !== undefined && { redisNamespace }),
      },
    };
  }
}

/**
 * The servers on which the instance's names are provisioned for it: a store
 * confirmed them there (`status.stores`, written from the server that
 * reconcile provisioned on) and has not said otherwise since (a store that
 * cannot be reached stays holding, `holdsStoreNames`). An instance that
 * never provisions (its admin connection fails, a store refuses it) holds
 * nothing, so it cannot squat a name; an admin Secret pointed elsewhere
 * later holds nothing there.
 */
function heldServers(instance: TradingEngineInstance): { postgres?: string; redis?: string } {
  const { conditions, stores } = instance.status ?? {};
  return {
    ...(holdsStoreNames(findCondition(conditions, 'DatabaseReady')) &&
      stores?.postgres !== undefined && { postgres: stores.postgres }),
    ...(holdsStoreNames(findCondition(conditions, 'CacheReady')) &&
      stores?.redis !== undefined && { redis: stores.redis }),
  };
}

/** An instance as parsed, and the names it asks for. */
interface Parsed {
  instance: TradingEngineInstance;
  identity: Identity;
}

/**
 * The instances parsed and their identities resolved, kept up to date from
 * the cache's events, and indexed by the names they ask for: by schema, by
 * Redis namespace, and by each `:`-prefix of the namespace (whose ACL
 * pattern would reach into it). An instance that does not parse, or whose
 * identity is invalid, claims nothing.
 */
class ClaimIndex {
  private readonly byKey = new Map<string, Parsed>();
  private readonly byName = new Map<string, Set<string>>();

  put(raw: KubernetesObject): void {
    this.remove(raw);
    const parsed = tradingEngineInstance.safeParse(raw);
    if (!parsed.success) return;
    let identity: Identity;
    try {
      identity = resolveIdentity(parsed.data);
    } catch {
      return;
    }
    const key = keyOf(parsed.data);
    this.byKey.set(key, { instance: parsed.data, identity });
    for (const name of indexNames(identity)) {
      const keys = this.byName.get(name);
      if (keys) keys.add(key);
      else this.byName.set(name, new Set([key]));
    }
  }

  remove(raw: KubernetesObject): void {
    const key = objectKey(raw);
    const known = this.byKey.get(key);
    if (!known) return;
    this.byKey.delete(key);
    for (const name of indexNames(known.identity)) {
      const keys = this.byName.get(name);
      keys?.delete(key);
      if (keys?.size === 0) this.byName.delete(name);
    }
  }

  /**
   * The other instances whose names connect to `identity`'s (the names of
   * instance `key`), directly or through others: arbitrating one claim
   * depends on its whole component.
   */
  connectedTo(key: string, identity: Identity): Parsed[] {
    const found = new Map<string, Parsed>();
    const seen = new Set([key]);
    const pending: Identity[] = [identity];
    for (let next = pending.pop(); next; next = pending.pop()) {
      for (const name of neighbourNames(next)) {
        for (const other of this.byName.get(name) ?? []) {
          const parsed = this.byKey.get(other);
          if (!parsed || seen.has(other)) continue;
          seen.add(other);
          found.set(other, parsed);
          pending.push(parsed.identity);
        }
      }
    }
    return [...found.values()];
  }
}

/** The names an identity is indexed by. */
function indexNames(identity: Identity): string[] {
  return [
    `schema ${identity.postgresSchema}`,
    `namespace ${identity.redisNamespace}`,
    ...namespacePrefixes(identity.redisNamespace).map((prefix) => `under ${prefix}`),
  ];
}

/** The index names of the identities that may clash with this one. */
function neighbourNames(identity: Identity): string[] {
  return [
    `schema ${identity.postgresSchema}`,
    `namespace ${identity.redisNamespace}`,
    // Namespaces below this one (this one is their prefix)...
    `under ${identity.redisNamespace}`,
    // ...and above it (theirs is a prefix of this one).
    ...namespacePrefixes(identity.redisNamespace).map((prefix) => `namespace ${prefix}`),
  ];
}
