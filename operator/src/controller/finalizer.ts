import {
  describeCause,
  FencedError,
  type Identity,
  OwnershipError,
  StoreUnavailableError,
} from '@tse/adapter';
import type { Logger } from 'pino';
import type { TradingEngineInstance } from '../api/schema.ts';
import { credentialsSecretName } from '../builders/metadata.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { AdminSecretError } from './admin.ts';
import { findCondition } from './conditions.ts';
import { Backoff, type ReconcilerDependencies, target } from './context.ts';
import { holdsStoreNames } from './decisions.ts';
import { keyOf, resolveIdentity } from './identity.ts';
import type { NameArbiter } from './names.ts';
import type { PostgresTenants } from './postgres.ts';
import type { RedisTenants } from './redis.ts';
import type { StatusWriter } from './status.ts';

/** The finalizer that gives the operator a say before an instance goes away. */
export const FINALIZER = 'trading.tse.io/finalizer';

/**
 * The way out for stores that are gone for good (or deliberately given up):
 * `"true"` skips the cleanup of both, `"postgres"` or `"redis"` (or both,
 * comma-separated) of that one; what is left behind is told in a Warning.
 */
export const ABANDON_ANNOTATION = 'trading.tse.io/abandon-stores';

type Store = 'postgres' | 'redis';
const STORES: readonly Store[] = ['postgres', 'redis'];
const LABEL: Record<Store, string> = { postgres: 'PostgreSQL', redis: 'Redis' };
const CONDITION: Record<Store, 'DatabaseReady' | 'CacheReady'> = {
  postgres: 'DatabaseReady',
  redis: 'CacheReady',
};

/** The stores whose cleanup the instance's annotation gives up. */
export function abandonedStores(instance: TradingEngineInstance): Set<Store> {
  const value = (instance.metadata.annotations?.[ABANDON_ANNOTATION] ?? '').trim().toLowerCase();
  if (value === 'true' || value === 'all') return new Set(STORES);
  return new Set(
    value
      .split(',')
      .map((part) => part.trim())
      .filter((part): part is Store => (STORES as readonly string[]).includes(part)),
  );
}

/**
 * Deletion: what the instance leaves in its stores (Retain disables the
 * logins and keeps the data; Delete drops this instance's own), then the
 * finalizer comes off. Every step is in the instance's status (Ready False,
 * `Deleting`) and its Events; a step that cannot be done (admin Secret gone,
 * store down, a name no longer this instance's) is `DeletionBlocked`, says
 * what it waits for and how to get out, and is retried with backoff.
 */
export class Finalizer {
  private readonly deps: ReconcilerDependencies;
  private readonly names: NameArbiter;
  private readonly status: StatusWriter;
  private readonly postgres: PostgresTenants;
  private readonly redis: RedisTenants;
  // A blocked deletion is cheap to retry, and the way out (an annotation) is seen only on a retry.
  private readonly blocked = new Backoff(5000, 60_000);

  constructor(
    deps: ReconcilerDependencies,
    parts: {
      names: NameArbiter;
      status: StatusWriter;
      postgres: PostgresTenants;
      redis: RedisTenants;
    },
  ) {
    this.deps = deps;
    this.names = parts.names;
    this.status = parts.status;
    this.postgres = parts.postgres;
    this.redis = parts.redis;
  }

  async finalize(
    instance: TradingEngineInstance,
    log: Logger,
  ): Promise<ReconcileResult | undefined> {
    const { finalizers } = instance.metadata;
    if (!finalizers?.includes(FINALIZER)) return undefined;
    const key = keyOf(instance);
    const identity = (() => {
      try {
        return resolveIdentity(instance);
      } catch {
        return undefined;
      }
    })();
    // An instance that never held its names (invalid, or refused) has nothing of its own to clean up.
    if (identity && !this.names.conflictOf(instance, identity)) {
      const waiting = await this.release(instance, identity, log);
      if (waiting) {
        const delay = this.blocked.next(key);
        log.warn({ retry_in_ms: delay }, waiting);
        return { requeueAfterMs: delay };
      }
    }
    this.blocked.reset(key);
    this.redis.forget(key);
    this.postgres.forget(key);
    await this.deps.writer.setFinalizers(
      instance.metadata.namespace,
      instance.metadata.name,
      finalizers,
      finalizers.filter((finalizer) => finalizer !== FINALIZER),
    );
    return undefined;
  }

  /** Cleans up each store; what deletion still waits for, or undefined when it may go on. */
  private async release(
    instance: TradingEngineInstance,
    identity: Identity,
    log: Logger,
  ): Promise<string | undefined> {
    // The annotation gives up only a cleanup that cannot be done: a store that
    // answers is still cleaned up (logins disabled, or data dropped), so an
    // instance cannot leave with working credentials by setting it beforehand.
    const abandon = abandonedStores(instance);
    const abandoned: Store[] = [];
    const plan = STORES.map(
      (store) => `${LABEL[store]} (${instance.spec[store].deletionPolicy})`,
    ).join(' and ');
    // Once blocked, the status says what deletion waits for until it no longer does.
    const blocked =
      findCondition(instance.status?.conditions, 'Ready')?.reason === 'DeletionBlocked';
    if (plan && !blocked) {
      const message = `releasing ${plan}; the finalizer comes off when that is done`;
      this.deps.events.record(target(instance), 'Normal', 'Deleting', message);
      await this.writeReady(instance, 'Deleting', message);
    }
    const secret = this.deps.caches.secrets.get(
      instance.metadata.namespace,
      credentialsSecretName(instance),
    );
    const done: string[] = [];
    const waiting: string[] = [];
    for (const store of STORES) {
      try {
        const admin = await this.deps.admin.resolveStore(instance, store);
        const tenants = store === 'postgres' ? this.postgres : this.redis;
        done.push(
          `${LABEL[store]} ${await tenants.release({ instance, identity, admin, secret })}`,
        );
      } catch (error) {
        if (error instanceof FencedError) throw error;
        if (error instanceof OwnershipError && !heldBy(instance, store)) {
          // It never was this instance's: there is nothing of its own to clean up.
          done.push(`${LABEL[store]}: nothing of this instance's (${error.message})`);
          continue;
        }
        if (abandon.has(store)) abandoned.push(store);
        else waiting.push(await this.whyBlocked(instance, store, error));
      }
    }
    if (waiting.length > 0) {
      const message = `deletion waits for ${waiting.join('; and for ')}${done.length ? ` (done: ${done.join('; ')})` : ''}. If the store is gone for good, or its data is to be left as it is, annotate the instance ${ABANDON_ANNOTATION}=true (or =postgres, =redis): the finalizer then comes off without that cleanup`;
      this.deps.events.record(target(instance), 'Warning', 'DeletionBlocked', message);
      await this.writeReady(instance, 'DeletionBlocked', message);
      return message;
    }
    if (abandoned.length > 0) {
      const left = abandoned.map((store) => leftBehind(instance, identity, store)).join('; ');
      const message = `${ABANDON_ANNOTATION} is set: the finalizer comes off without cleaning up ${left}; remove them by hand if they are not wanted`;
      log.warn(message);
      this.deps.events.record(target(instance), 'Warning', 'StoresAbandoned', message);
    }
    if (done.length > 0) {
      const message = done.join('; ');
      log.info(
        {
          postgres: instance.spec.postgres.deletionPolicy,
          redis: instance.spec.redis.deletionPolicy,
        },
        message,
      );
      this.deps.events.record(target(instance), 'Normal', 'Finalized', message);
    }
    return undefined;
  }

  /** What one store's cleanup waits for, in words a person can act on. */
  private async whyBlocked(
    instance: TradingEngineInstance,
    store: Store,
    error: unknown,
  ): Promise<string> {
    const label = LABEL[store];
    if (error instanceof AdminSecretError) {
      const { namespace } = instance.metadata;
      const terminating = await this.deps.admin.namespaceTerminating(namespace).catch(() => false);
      return terminating
        ? `the ${label} admin connection: ${error.message}; namespace ${namespace} is being deleted and its Secrets went before this instance, so the operator cannot reach ${label} to clean up, and the namespace stays Terminating until this instance goes`
        : `the ${label} admin connection: ${error.message} (restore the Secret)`;
    }
    if (error instanceof StoreUnavailableError) return `${label} to be reachable: ${error.message}`;
    if (error instanceof OwnershipError)
      return `${label}: ${error.message} (this instance held it; someone changed its owner marker)`;
    return `${label}: ${describeCause(error)}`;
  }

  private async writeReady(
    instance: TradingEngineInstance,
    reason: 'Deleting' | 'DeletionBlocked',
    message: string,
  ): Promise<void> {
    const { conditions: _, observedGeneration: __, ...fields } = instance.status ?? {};
    await this.status.write(instance, fields, [
      { type: 'Ready', status: 'False', reason, message },
    ]);
  }
}

/** True when a store confirmed the instance's name there (its condition is True, or Unknown since). */
function heldBy(instance: TradingEngineInstance, store: Store): boolean {
  return holdsStoreNames(findCondition(instance.status?.conditions, CONDITION[store]));
}

/** What is left in a store whose cleanup is abandoned. */
function leftBehind(instance: TradingEngineInstance, identity: Identity, store: Store): string {
  if (store === 'postgres')
    return `PostgreSQL schema "${identity.postgresSchema}" and its role (login still enabled) on ${instance.spec.postgres.adminSecretRef ? `the server of Secret ${instance.spec.postgres.adminSecretRef.name}` : "the operator's default server"}`;
  return `Redis ACL user "${identity.redisNamespace}" (still enabled) and the keys under ${identity.redisNamespace}:* on ${instance.spec.redis.adminSecretRef ? `the server of Secret ${instance.spec.redis.adminSecretRef.name}` : "the operator's default server"}`;
}
