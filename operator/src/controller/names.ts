import type { KubernetesObject } from '@kubernetes/client-node';
import { type Claim, type Identity, refusalOf } from '@tse/adapter';
import { type TradingEngineInstance, tradingEngineInstance } from '../api/schema.ts';
import type { AdminConnections } from './admin.ts';
import { findCondition } from './conditions.ts';
import type { Caches } from './context.ts';
import { keyOf, resolveIdentity } from './identity.ts';

/**
 * Name arbitration: which instance may use a PostgreSQL schema or Redis
 * namespace when several ask for it. The earliest that a store confirmed
 * keeps it; the others are told who (within their namespace) holds it.
 */
export class NameArbiter {
  private readonly instances: Caches['instances'];
  private readonly admin: AdminConnections;
  private readonly claims = new ClaimCache();

  constructor(instances: Caches['instances'], admin: AdminConnections) {
    this.instances = instances;
    this.admin = admin;
  }

  /**
   * Why this instance may not have its names, or undefined when it keeps
   * them. Names clash only on a shared server: a schema on the same
   * PostgreSQL, a namespace on the same Redis, so each name is qualified by
   * its server before the claims are arbitrated.
   */
  conflictOf(instance: TradingEngineInstance, identity: Identity): string | undefined {
    const claims: Claim[] = [];
    const names = new Map<string, Identity>();
    for (const raw of this.instances.list()) {
      const other = this.claims.read(raw, (parsed) =>
        parsed.metadata.uid === instance.metadata.uid ? identity : resolveIdentity(parsed),
      );
      if (!other) continue;
      // Only names a store has confirmed are held: an instance that never provisions squats nothing.
      // Two new claims at once are settled by the stores' own markers (role comment, ownership record).
      if (other.instance.metadata.uid !== instance.metadata.uid && !holdsNames(other.instance))
        continue;
      const stores = this.admin.storeKeys(other.instance);
      const key = keyOf(other.instance);
      names.set(key, other.identity);
      claims.push({
        key,
        createdAt: other.instance.metadata.creationTimestamp,
        holds: holdsNames(other.instance),
        identity: {
          postgresSchema: `${encodeURIComponent(stores.postgres)}|${other.identity.postgresSchema}`,
          redisNamespace: `${encodeURIComponent(stores.redis)}|${other.identity.redisNamespace}`,
        },
      });
    }
    const refusal = refusalOf(keyOf(instance), claims);
    if (!refusal) return undefined;
    const held = names.get(refusal.heldBy);
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
}

/**
 * True when the instance's names are provisioned for it: a store said so.
 * An instance that never provisions (its admin connection fails, or a store
 * refuses it) holds nothing, so it cannot squat a name. While a holder's
 * store is down, a later instance may pass this check, but the store's own
 * ownership markers (role comment, Redis ownership record) still refuse it.
 */
function holdsNames(instance: TradingEngineInstance): boolean {
  return (['DatabaseReady', 'CacheReady'] as const).some(
    (type) => findCondition(instance.status?.conditions, type)?.status === 'True',
  );
}

/**
 * Instances parsed and their identities resolved, kept per uid until the
 * object changes: conflict checks read every instance on every reconcile.
 */
class ClaimCache {
  private readonly entries = new Map<
    string,
    { version: string; instance: TradingEngineInstance; identity: Identity } | { version: string }
  >();

  read(
    raw: KubernetesObject,
    resolve: (instance: TradingEngineInstance) => Identity,
  ): { instance: TradingEngineInstance; identity: Identity } | undefined {
    const uid = raw.metadata?.uid ?? '';
    const version = raw.metadata?.resourceVersion ?? '';
    const cached = this.entries.get(uid);
    if (cached?.version === version) return 'instance' in cached ? cached : undefined;
    const parsed = tradingEngineInstance.safeParse(raw);
    let entry:
      | { version: string; instance: TradingEngineInstance; identity: Identity }
      | { version: string } = { version };
    if (parsed.success) {
      try {
        entry = { version, instance: parsed.data, identity: resolve(parsed.data) };
      } catch {
        // an invalid identity claims nothing
      }
    }
    if (this.entries.size > 100_000) this.entries.clear();
    this.entries.set(uid, entry);
    return 'instance' in entry ? entry : undefined;
  }
}
