import type { KubernetesObject, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { type Identity, ValidationError } from '@tse/adapter';
import { type TradingEngineInstance, tradingEngineInstance } from '../api/schema.ts';
import { buildDeployment } from '../builders/deployment.ts';
import { credentialsSecretName } from '../builders/metadata.ts';
import {
  buildPodDisruptionBudget,
  wantsPodDisruptionBudget,
} from '../builders/pod-disruption-budget.ts';
import { SECRET_KEYS, secretChecksum, secretValue } from '../builders/secret.ts';
import { buildPodsService, buildService, podsServiceName } from '../builders/service.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { AdminSecretError, type AdminTarget } from './admin.ts';
import { ApplyError, OwnedObjects, RecentWrites } from './apply.ts';
import { type ConditionInput, findCondition } from './conditions.ts';
import {
  Backoff,
  now,
  type ReconcilerDependencies,
  RetryLater,
  settleAll,
  target,
} from './context.ts';
import { ensureCredentials } from './credentials.ts';
import {
  firstStatusWait,
  lookAtOnRedisReturn,
  readyCondition,
  refusedByRedisRecord,
  storeCondition,
} from './decisions.ts';
import { FINALIZER, Finalizer } from './finalizer.ts';
import { keyOf, resolveIdentity } from './identity.ts';
import { NameArbiter } from './names.ts';
import { ForeignObjectError } from './ownership.ts';
import { PostgresTenants } from './postgres.ts';
import { RedisTenants } from './redis.ts';
import { assignRoles, type EngineRoles, instancePods, podCounts, rolesUnknown } from './roles.ts';
import { notPaused, StatusWriter } from './status.ts';

export type { Caches, ReconcilerDependencies } from './context.ts';
export { FINALIZER } from './finalizer.ts';

/**
 * Reconciles one TradingEngineInstance: the flow, in order. Identity,
 * conflicts (names.ts), credentials (credentials.ts), the stores
 * (postgres.ts, redis.ts), owned objects (apply.ts), roles (roles.ts),
 * status (status.ts); deletion is finalizer.ts. Reads come from the
 * informer caches; every write is skipped when the cluster already has
 * what it would write.
 */
export class InstanceReconciler {
  private readonly deps: ReconcilerDependencies;
  private readonly owned: OwnedObjects;
  private readonly status: StatusWriter;
  private readonly names: NameArbiter;
  private readonly postgres: PostgresTenants;
  private readonly redis: RedisTenants;
  private readonly finalizer: Finalizer;
  private readonly written: RecentWrites;
  /** Instances the Redis ownership record refused, until they are provisioned. */
  private readonly refusedByRedis = new Set<string>();
  /** Since when each instance's ready pods have waited for one of them to take the lock. */
  private readonly waitingForLock = new Map<string, number>();
  /** Instances whose objects the API server refuses: retried at a pace a person can fix them. */
  private readonly rejected = new Backoff();

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
    const written = new RecentWrites();
    this.written = written;
    this.owned = new OwnedObjects(deps, written);
    this.status = new StatusWriter(deps, written);
    this.names = new NameArbiter(deps.caches.instances, deps.admin);
    this.postgres = new PostgresTenants(deps);
    this.redis = new RedisTenants(deps);
    this.finalizer = new Finalizer(deps, {
      names: this.names,
      status: this.status,
      postgres: this.postgres,
      redis: this.redis,
    });
    deps.admin.onRedisReconnect((storeKey) => this.requeueOnRedis(storeKey));
  }

  /**
   * A Redis's admin connection came back: the server may have restarted and
   * lost its ACL users, so the instances on it are looked at now rather than
   * at their next resync, but for those its ownership record had refused
   * (`lookAtOnRedisReturn`).
   */
  private requeueOnRedis(storeKey: string): void {
    const keys: string[] = [];
    for (const raw of this.deps.caches.instances.list()) {
      const parsed = tradingEngineInstance.safeParse(raw);
      if (!parsed.success || this.deps.admin.storeKeys(parsed.data).redis !== storeKey) continue;
      const key = keyOf(parsed.data);
      // Refused as this process remembers it (a reconcile during the outage may have written
      // RedisUnavailable over it), or as the status says (a refusal from before a restart).
      const cacheReady = findCondition(parsed.data.status?.conditions, 'CacheReady');
      if (!this.refusedByRedis.has(key) && lookAtOnRedisReturn(cacheReady)) keys.push(key);
    }
    this.deps.log.info(
      { redis: storeKey, instances: keys.length },
      'Redis admin connection re-established: looking at its instances now',
    );
    for (const key of keys) {
      this.redis.forget(key);
      this.deps.requeue?.(key);
    }
  }

  /** Whether an owned object's event is only this operator's own write coming back. */
  isOwnEcho(object: KubernetesObject): boolean {
    return this.written.isEcho(object);
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.caches.instances.get(namespace, name);
    if (!raw) {
      this.waitingForLock.delete(key);
      this.refusedByRedis.delete(key);
      this.rejected.reset(key);
      return undefined;
    }
    const parsed = tradingEngineInstance.safeParse(raw);
    if (!parsed.success) {
      this.deps.log.error(
        { instance: key, issues: parsed.error.issues },
        'instance does not match its schema; is the CRD current?',
      );
      return undefined;
    }
    const instance = parsed.data;
    const log = this.deps.log.child({ instance: key });

    if (instance.metadata.deletionTimestamp) return this.finalizer.finalize(instance, log);
    if (instance.spec.paused) {
      await this.status.write(instance, {}, [
        {
          type: 'Paused',
          status: 'True',
          reason: 'Paused',
          message: 'spec.paused is true: the operator leaves this instance as it is',
        },
      ]);
      return undefined;
    }
    let identity: Identity;
    try {
      identity = resolveIdentity(instance);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      this.deps.events.record(target(instance), 'Warning', 'InvalidSpec', error.message);
      await this.status.write(instance, {}, [
        notPaused(),
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: error.message },
      ]);
      return undefined;
    }

    const conflict = this.names.conflictOf(instance, identity);
    if (conflict) {
      this.deps.events.record(target(instance), 'Warning', 'NameConflict', conflict);
      await this.status.write(instance, { identity }, [
        notPaused(),
        { type: 'Ready', status: 'False', reason: 'NameConflict', message: conflict },
      ]);
      return undefined;
    }

    let admin: { postgres: AdminTarget; redis: AdminTarget };
    try {
      admin = await this.deps.admin.resolve(instance);
    } catch (error) {
      if (!(error instanceof AdminSecretError)) throw error;
      this.deps.events.record(target(instance), 'Warning', 'AdminSecretMissing', error.message);
      await this.status.write(instance, { identity }, [
        notPaused(),
        { type: 'Ready', status: 'False', reason: 'AdminSecretMissing', message: error.message },
      ]);
      throw new RetryLater(error.message);
    }

    let secret: V1Secret;
    try {
      // The finalizer is on before any store is touched; the Secret, which the
      // API server deletes with the instance, is made meanwhile.
      [, secret] = await settleAll([
        this.ensureFinalizer(instance),
        ensureCredentials(this.deps, this.owned, instance, identity, admin),
      ]);
    } catch (error) {
      return this.refuse(instance, identity, error);
    }
    const [postgres, redis] = await Promise.all([
      this.postgres.provision({ instance, identity, admin: admin.postgres, secret }),
      this.redis.provision({ instance, identity, admin: admin.redis, secret }),
    ]);
    const storesOk = postgres.ok && redis.ok;
    if (redis.ok) this.refusedByRedis.delete(key);
    else if (refusedByRedisRecord(redis.reason)) this.refusedByRedis.add(key);

    // A store that is down leaves the running engine alone: it reports degraded and recovers by itself.
    let refused: ApplyError | undefined;
    let deployment = this.deps.caches.deployments.get(namespace, name);
    if (storesOk) {
      try {
        deployment = await this.ensureWorkload(instance, identity, secret, deployment);
      } catch (error) {
        if (error instanceof ApplyError) refused = error;
        else return this.refuse(instance, identity, error);
      }
    }

    const pods = instancePods(this.deps, instance);
    const before = (type: 'DatabaseReady' | 'CacheReady') => this.status.condition(instance, type);
    const roles = postgres.ok
      ? await assignRoles(this.deps, instance, identity, admin.postgres, pods)
      : rolesUnknown('PostgreSQL is unavailable');
    const conditions: ConditionInput[] = [
      storeCondition('DatabaseReady', 'PostgreSQL', postgres, before('DatabaseReady')),
      storeCondition('CacheReady', 'Redis', redis, before('CacheReady')),
      roles.available,
    ];
    const ready = refused ? applyFailed(refused) : readyCondition(conditions);
    const counts = podCounts(pods, name);
    const wait = this.status.isFirst(instance)
      ? firstStatusWait(
          ready,
          { ready: counts.ready, wanted: instance.spec.replicas },
          deployedAt(deployment),
          now(this.deps),
        )
      : 0;
    if (wait > 0) return { requeueAfterMs: wait };
    if (refused) this.deps.events.record(target(instance), 'Warning', ready.reason, ready.message);
    else this.status.announceReady(instance, ready);
    // The servers that confirmed the names now: the ones this reconcile provisioned on.
    const stores = {
      ...(postgres.ok && { postgres: admin.postgres.storeKey }),
      ...(redis.ok && { redis: admin.redis.storeKey }),
    };
    await this.status.write(
      instance,
      {
        identity,
        credentialsSecret: credentialsSecretName(instance),
        ...(Object.keys(stores).length > 0 && { stores }),
        replicas: counts.live,
        readyReplicas: counts.ready,
        ...(roles.active && { activeEngine: roles.active }),
        standbyReplicas: roles.standbys.length,
      },
      [notPaused(), ...conditions, ready],
    );

    if (refused) return { requeueAfterMs: this.rejected.next(key) };
    this.rejected.reset(key);
    const retry = [postgres, redis].find((outcome) => !outcome.ok && outcome.retry);
    if (retry && !retry.ok) throw new RetryLater(`${retry.reason}: ${retry.message}`);
    return { requeueAfterMs: this.nextLook(instance, roles) };
  }

  /**
   * The objects the engines run with, as the instance wants them: the
   * NetworkPolicy first (no engine pod runs a moment without it), then the
   * rest together, since they depend on nothing of each other. Each is judged
   * alone; the first refusal is thrown once all have settled. Returns the
   * Deployment as written.
   */
  private async ensureWorkload(
    instance: TradingEngineInstance,
    identity: Identity,
    secret: V1Secret,
    live: V1Deployment | undefined,
  ): Promise<V1Deployment> {
    const { namespace, name } = instance.metadata;
    const { services, podDisruptionBudgets } = this.deps.caches;
    await this.owned.ensureNetworkPolicy(instance);
    const [deployment] = await settleAll([
      this.owned.ensure(
        buildDeployment(instance, {
          identity,
          image: instance.spec.image ?? this.deps.engineImage,
          credentialsChecksum: secretChecksum(secret),
          storeCas: {
            postgres: secretValue(secret, SECRET_KEYS.postgresCa) !== undefined,
            redis: secretValue(secret, SECRET_KEYS.redisCa) !== undefined,
          },
        }),
        live,
      ),
      this.owned.ensure(buildService(instance), services.get(namespace, name)),
      this.owned.ensure(
        buildPodsService(instance),
        services.get(namespace, podsServiceName(instance)),
      ),
      wantsPodDisruptionBudget(instance) &&
        this.owned.ensure(
          buildPodDisruptionBudget(instance),
          podDisruptionBudgets.get(namespace, name),
        ),
      this.owned.ensureServiceMonitor(instance),
    ]);
    return deployment;
  }

  /** Puts the operator's finalizer on the instance, unless it is there. */
  private async ensureFinalizer(instance: TradingEngineInstance): Promise<void> {
    const { namespace, name, finalizers } = instance.metadata;
    if (finalizers?.includes(FINALIZER)) return;
    await this.deps.writer.setFinalizers(namespace, name, finalizers, [
      ...(finalizers ?? []),
      FINALIZER,
    ]);
  }

  /**
   * When to look again. Each instance comes back once per resync period
   * (±10%, so they do not all come at once). Sooner while ready pods wait for
   * one of them to take the lock (a standby taking over): every second at
   * first, backing off to a minute the longer it lasts. Everything else that
   * changes who trades is an event: pods come and go, and an engine that
   * loses its lock exits (its pod restarts).
   */
  private nextLook(instance: TradingEngineInstance, roles: EngineRoles): number {
    const key = keyOf(instance);
    const resync = Math.round(this.deps.resyncMs * (0.9 + Math.random() * 0.2));
    if (roles.available.status === 'True' || roles.standbys.length === 0) {
      this.waitingForLock.delete(key);
      return resync;
    }
    const at = now(this.deps).getTime();
    const since = this.waitingForLock.get(key) ?? at;
    this.waitingForLock.set(key, since);
    return Math.min(resync, 60_000, Math.max(1000, (at - since) / 4));
  }

  /**
   * An object the instance needs is someone else's (say so, change nothing,
   * retry at resync), or the API server refused it (say what it said, retry
   * with backoff).
   */
  private async refuse(
    instance: TradingEngineInstance,
    identity: Identity,
    error: unknown,
  ): Promise<ReconcileResult> {
    if (error instanceof ApplyError) {
      const ready = applyFailed(error);
      this.deps.events.record(target(instance), 'Warning', ready.reason, ready.message);
      await this.status.write(instance, { identity }, [notPaused(), ready]);
      return { requeueAfterMs: this.rejected.next(keyOf(instance)) };
    }
    if (!(error instanceof ForeignObjectError)) throw error;
    const before = findCondition(instance.status?.conditions, 'Ready');
    if (before?.reason !== 'ForeignObject' || before.message !== error.message)
      this.deps.events.record(target(instance), 'Warning', 'ForeignObject', error.message);
    await this.status.write(instance, { identity }, [
      notPaused(),
      { type: 'Ready', status: 'False', reason: 'ForeignObject', message: error.message },
    ]);
    return { requeueAfterMs: this.deps.resyncMs };
  }
}

/** When the instance's Deployment was made: as just applied, or as the cache has it. */
function deployedAt(deployment: V1Deployment | undefined): string | undefined {
  const created = deployment?.metadata?.creationTimestamp;
  return created === undefined ? undefined : String(created);
}

/** Ready False: the API server refused an object the instance needs. */
function applyFailed(error: ApplyError): ConditionInput {
  return { type: 'Ready', status: 'False', reason: 'ApplyFailed', message: error.message };
}
