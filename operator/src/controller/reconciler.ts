import type {
  KubernetesObject,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import {
  type Claim,
  checkPostgresLogin,
  checkRedisLogin,
  describeCause,
  findActiveEngines,
  generatePassword,
  type Identity,
  OwnershipError,
  type PostgresPolicy,
  postgresTenant,
  redisTenant,
  refusalOf,
  ValidationError,
} from '@tse/adapter';
import type { Logger } from 'pino';
import {
  API_VERSION,
  type InstanceStatus,
  KIND,
  type TradingEngineInstance,
  tradingEngineInstance,
} from '../api/schema.ts';
import { buildDeployment } from '../builders/deployment.ts';
import { credentialsSecretName, INSTANCE_LABEL, ROLE_LABEL } from '../builders/metadata.ts';
import { buildNetworkPolicy, type NetworkPolicy } from '../builders/network-policy.ts';
import {
  buildPodDisruptionBudget,
  wantsPodDisruptionBudget,
} from '../builders/pod-disruption-budget.ts';
import {
  buildCredentialsSecret,
  SECRET_KEYS,
  type StoreLogin,
  secretChecksum,
  secretValue,
} from '../builders/secret.ts';
import { buildPodsService, buildService, podsServiceName } from '../builders/service.ts';
import { buildServiceMonitor } from '../builders/service-monitor.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { WatchedKind } from '../runtime/informer.ts';
import type { KubeWriter } from '../runtime/kube.ts';
import type { ControllerMetrics } from '../runtime/metrics.ts';
import type { ReconcileResult } from '../runtime/workqueue.ts';
import { type AdminConnections, AdminSecretError, type AdminTarget } from './admin.ts';
import { type ConditionInput, findCondition, mergeConditions } from './conditions.ts';
import {
  openDatabasesWarning,
  readyCondition,
  type StoreOutcome,
  storeCondition,
  storeFailure,
} from './decisions.ts';
import { driftPatch, isDerivative } from './drift.ts';
import { keyOf, resolveIdentity } from './identity.ts';
import { ForeignObjectError, foreignObjectRefusal } from './ownership.ts';
import { type EngineRoles, engineRoles, rolesUnknown } from './roles.ts';

/** Not-ready reasons of a normal start or takeover: no Event for them, they pass on their own. */
const QUIET_READY_REASONS = new Set([
  'NoActiveEngine',
  'ActiveEngineNotReady',
  'ActiveEngineStopping',
]);

/** The finalizer that gives the operator a say before an instance goes away. */
export const FINALIZER = 'trading.tse.io/finalizer';

/** The caches the reconciler reads instead of the API server. */
export interface Caches {
  instances: WatchedKind<KubernetesObject>;
  deployments: WatchedKind<V1Deployment>;
  services: WatchedKind<V1Service>;
  secrets: WatchedKind<V1Secret>;
  /** The engine pods (label-scoped): their roles are labelled from the holder of each instance's lock. */
  pods: WatchedKind<V1Pod>;
  podDisruptionBudgets: WatchedKind<V1PodDisruptionBudget>;
  networkPolicies: WatchedKind<NetworkPolicy>;
  /** Present while the Prometheus Operator's ServiceMonitor CRD exists. */
  serviceMonitors?: WatchedKind<KubernetesObject>;
}

export interface ReconcilerDependencies {
  caches: Caches;
  writer: KubeWriter;
  admin: AdminConnections;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  engineImage: string;
  /** Server-wide PostgreSQL choices: whether PUBLIC's CONNECT on other databases is revoked. */
  postgresPolicy?: PostgresPolicy;
  /** How often a converged instance is looked at again (stores re-checked, drift repaired). */
  resyncMs: number;
  now?: () => Date;
}

/** Thrown after status is written, so that the queue retries with backoff. */
class RetryLater extends Error {}

/**
 * Reconciles one TradingEngineInstance: identity, conflicts, credentials,
 * provisioning, owned objects, status. Reads come from the informer caches;
 * every write is skipped when the cluster already has what it would write.
 */
export class InstanceReconciler {
  private readonly deps: ReconcilerDependencies;

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.caches.instances.get(namespace, name);
    if (!raw) {
      this.waitingForLock.delete(key);
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

    if (instance.metadata.deletionTimestamp) {
      await this.finalize(instance, log);
      return undefined;
    }
    if (instance.spec.paused) {
      await this.writeStatus(instance, {}, [
        {
          type: 'Paused',
          status: 'True',
          reason: 'Paused',
          message: 'spec.paused is true: the operator leaves this instance as it is',
        },
      ]);
      return undefined;
    }
    if (!instance.metadata.finalizers?.includes(FINALIZER)) {
      await this.deps.writer.setFinalizers(namespace, name, instance.metadata.finalizers, [
        ...(instance.metadata.finalizers ?? []),
        FINALIZER,
      ]);
    }

    let identity: Identity;
    try {
      identity = resolveIdentity(instance);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      this.deps.events.record(target(instance), 'Warning', 'InvalidSpec', error.message);
      await this.writeStatus(instance, {}, [
        notPaused(),
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: error.message },
      ]);
      return undefined;
    }

    const conflict = this.conflictOf(instance, identity);
    if (conflict) {
      this.deps.events.record(target(instance), 'Warning', 'NameConflict', conflict);
      await this.writeStatus(instance, { identity }, [
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
      await this.writeStatus(instance, { identity }, [
        notPaused(),
        { type: 'Ready', status: 'False', reason: 'AdminSecretMissing', message: error.message },
      ]);
      throw new RetryLater(error.message);
    }

    let secret: V1Secret;
    try {
      secret = await this.ensureSecret(instance, identity, admin);
    } catch (error) {
      return this.refuseForeign(instance, identity, error);
    }
    const [postgres, redis] = await Promise.all([
      this.provisionPostgres(instance, identity, admin.postgres, secret),
      this.provisionRedis(instance, identity, admin.redis, secret),
    ]);
    const storesOk = postgres.ok && redis.ok;

    // A store that is down leaves the running engine alone: it reports degraded and recovers by itself.
    let deployment = this.deps.caches.deployments.get(namespace, name);
    if (storesOk) {
      try {
        deployment = await this.ensureOwned(
          buildDeployment(instance, {
            identity,
            image: instance.spec.image ?? this.deps.engineImage,
            credentialsChecksum: secretChecksum(secret),
            storeCas: {
              postgres: secretValue(secret, SECRET_KEYS.postgresCa) !== undefined,
              redis: secretValue(secret, SECRET_KEYS.redisCa) !== undefined,
            },
          }),
          deployment,
        );
        await this.ensureOwned(
          buildService(instance),
          this.deps.caches.services.get(namespace, name),
        );
        await this.ensureOwned(
          buildPodsService(instance),
          this.deps.caches.services.get(namespace, podsServiceName(instance)),
        );
        if (wantsPodDisruptionBudget(instance))
          await this.ensureOwned(
            buildPodDisruptionBudget(instance),
            this.deps.caches.podDisruptionBudgets.get(namespace, name),
          );
        await this.ensureNetworkPolicy(instance);
        await this.ensureServiceMonitor(instance);
      } catch (error) {
        return this.refuseForeign(instance, identity, error);
      }
    }

    const roles = postgres.ok
      ? await this.assignRoles(instance, identity, admin.postgres)
      : rolesUnknown('PostgreSQL is unavailable');
    const conditions: ConditionInput[] = [
      storeCondition('DatabaseReady', 'PostgreSQL', postgres),
      storeCondition('CacheReady', 'Redis', redis),
      roles.available,
    ];
    const ready = readyCondition(conditions);
    const before = findCondition(instance.status?.conditions, 'Ready');
    if (before?.status !== ready.status || before?.reason !== ready.reason) {
      const type = ready.status === 'True' ? 'Normal' : 'Warning';
      if (ready.status === 'True' || !QUIET_READY_REASONS.has(ready.reason))
        this.deps.events.record(target(instance), type, ready.reason, ready.message);
    }
    await this.writeStatus(
      instance,
      {
        identity,
        credentialsSecret: credentialsSecretName(instance),
        replicas: deployment?.status?.replicas ?? 0,
        readyReplicas: deployment?.status?.readyReplicas ?? 0,
        ...(roles.active && { activeEngine: roles.active }),
        standbyReplicas: roles.standbys.length,
      },
      [notPaused(), ...conditions, ready],
    );

    const retry = [postgres, redis].find((outcome) => !outcome.ok && outcome.retry);
    if (retry && !retry.ok) throw new RetryLater(`${retry.reason}: ${retry.message}`);
    return { requeueAfterMs: this.nextLook(instance, roles) };
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
    const now = (this.deps.now ?? (() => new Date()))().getTime();
    const since = this.waitingForLock.get(key) ?? now;
    this.waitingForLock.set(key, since);
    return Math.min(resync, 60_000, Math.max(1000, (now - since) / 4));
  }

  /** Since when each instance's ready pods have waited for one of them to take the lock. */
  private readonly waitingForLock = new Map<string, number>();

  /**
   * Finds the engine that holds the instance's lock, labels the pods'
   * roles (the Service sends traffic to `active` only) and says whether the
   * active engine is available.
   */
  private async assignRoles(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
  ): Promise<EngineRoles> {
    const { namespace, name } = instance.metadata;
    const pods = this.deps.caches.pods
      .list(namespace)
      .filter((pod) => pod.metadata?.labels?.[INSTANCE_LABEL] === name);
    let holder: string | undefined;
    if (pods.length > 0) {
      const { pool } = this.deps.admin.postgres(admin);
      try {
        holder = (await findActiveEngines(pool, [identity.postgresSchema])).get(
          identity.postgresSchema,
        );
      } catch (error) {
        return rolesUnknown(`the instance lock could not be read: ${describeCause(error)}`);
      }
    }
    const roles = engineRoles(pods, name, holder, instance.spec.replicas);
    for (const [pod, role] of roles.relabel) {
      const labelled = await this.deps.writer.labelPod(namespace, pod, ROLE_LABEL, role);
      if (labelled && role === 'active')
        this.deps.events.record(
          target(instance),
          'Normal',
          'EngineActive',
          `${pod} holds the instance lock: it trades; traffic goes to it`,
        );
    }
    return roles;
  }

  /**
   * Why this instance may not have its names, or undefined when it keeps
   * them. Names clash only on a shared server: a schema on the same
   * PostgreSQL, a namespace on the same Redis, so each name is qualified by
   * its server before the claims are arbitrated.
   */
  private conflictOf(instance: TradingEngineInstance, identity: Identity): string | undefined {
    const claims: Claim[] = [];
    const names = new Map<string, Identity>();
    for (const raw of this.deps.caches.instances.list()) {
      const other = this.claims.read(raw, (parsed) =>
        parsed.metadata.uid === instance.metadata.uid ? identity : resolveIdentity(parsed),
      );
      if (!other) continue;
      // Only names a store has confirmed are held: an instance that never provisions squats nothing.
      // Two new claims at once are settled by the stores' own markers (role comment, ownership record).
      if (other.instance.metadata.uid !== instance.metadata.uid && !holdsNames(other.instance))
        continue;
      const stores = this.deps.admin.storeKeys(other.instance);
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

  private readonly claims = new ClaimCache();

  /** An object the instance needs a name of is someone else's: say so, change nothing, retry at resync. */
  private async refuseForeign(
    instance: TradingEngineInstance,
    identity: Identity,
    error: unknown,
  ): Promise<ReconcileResult> {
    if (!(error instanceof ForeignObjectError)) throw error;
    const before = findCondition(instance.status?.conditions, 'Ready');
    if (before?.reason !== 'ForeignObject' || before.message !== error.message)
      this.deps.events.record(target(instance), 'Warning', 'ForeignObject', error.message);
    await this.writeStatus(instance, { identity }, [
      notPaused(),
      { type: 'Ready', status: 'False', reason: 'ForeignObject', message: error.message },
    ]);
    return { requeueAfterMs: this.deps.resyncMs };
  }

  /** The credentials Secret: generated passwords are kept; URLs follow the spec. Written before any store is touched. */
  private async ensureSecret(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: { postgres: AdminTarget; redis: AdminTarget },
  ): Promise<V1Secret> {
    const live = this.deps.caches.secrets.get(
      instance.metadata.namespace,
      credentialsSecretName(instance),
    );
    const postgresUrl = new URL(admin.postgres.url);
    const redisUrl = new URL(admin.redis.url);
    const [postgresHost, postgresPort] = hostPort(
      instance.spec.postgres.host,
      postgresUrl.hostname,
      Number(postgresUrl.port || 5432),
    );
    const [redisHost, redisPort] = hostPort(
      instance.spec.redis.host,
      redisUrl.hostname,
      Number(redisUrl.port || 6379),
    );
    const postgres: StoreLogin = {
      host: postgresHost,
      port: postgresPort,
      user: identity.postgresSchema,
      password: secretValue(live, SECRET_KEYS.postgresPassword) || generatePassword(),
      database: postgresUrl.pathname.slice(1) || 'postgres',
      tls: admin.postgres.tls,
    };
    const redis: StoreLogin = {
      host: redisHost,
      port: redisPort,
      user: identity.redisNamespace,
      password: secretValue(live, SECRET_KEYS.redisPassword) || generatePassword(),
      tls: admin.redis.tls,
    };
    // Kept like the passwords: removing one from the Secret rotates it (and rolls the pods).
    const api = {
      trade: secretValue(live, SECRET_KEYS.apiToken) || generatePassword(),
      read: secretValue(live, SECRET_KEYS.apiReadToken) || generatePassword(),
    };
    return this.ensureOwned(buildCredentialsSecret(instance, postgres, redis, api), live);
  }

  private async provisionPostgres(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret,
  ): Promise<StoreOutcome> {
    const provisioner = this.deps.admin.postgres(admin);
    try {
      const tenant = postgresTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.postgresPassword) ?? '',
        database: (await provisioner.database()) || 'postgres',
        connectionLimit: instance.spec.postgres.connectionLimit,
        owner: keyOf(instance),
      });
      const result = await provisioner.ensure(tenant, { policy: this.deps.postgresPolicy ?? {} });
      this.countActions('postgres', result.actions);
      if (result.actions.length > 0) {
        this.deps.events.record(
          target(instance),
          'Normal',
          'DatabaseProvisioned',
          `PostgreSQL: ${result.actions.map((a) => a.type).join(', ')} for schema ${tenant.schema}`,
        );
      }
      this.warnOpenDatabases(instance, result.openToPublic ?? []);
      if (result.actions.length > 0 || !result.loginVerified) {
        const login = await checkPostgresLogin(provisioner.pool.options, tenant);
        if (!login.ok)
          return {
            ok: false,
            reason: 'PostgresLoginFailed',
            message: `login as ${tenant.role} failed: ${login.reason}`,
            retry: true,
          };
      }
      return {
        ok: true,
        message: `schema ${tenant.schema} owned by role ${tenant.role}; login verified`,
        actions: result.actions.length,
      };
    } catch (error) {
      return storeFailure(error, 'postgres');
    }
  }

  /** Advice, not failure: the instance stays Ready; told once per change of the databases. */
  private warnOpenDatabases(instance: TradingEngineInstance, databases: string[]): void {
    const key = keyOf(instance);
    const warning = openDatabasesWarning(databases, this.toldOpenDatabases.get(key));
    if (databases.length === 0) this.toldOpenDatabases.delete(key);
    if (!warning) return;
    this.toldOpenDatabases.set(key, warning.key);
    this.deps.events.record(target(instance), 'Warning', warning.reason, warning.message);
  }

  /** Per instance, the other databases open to PUBLIC it was last warned about. */
  private readonly toldOpenDatabases = new Map<string, string>();

  private async provisionRedis(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret,
  ): Promise<StoreOutcome> {
    const provisioner = this.deps.admin.redis(admin);
    try {
      const tenant = redisTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.redisPassword) ?? '',
        owner: keyOf(instance),
        adoptExistingKeys: instance.spec.redis.adoptExistingKeys,
      });
      const result = await provisioner.ensure(tenant);
      this.countActions('redis', result.actions);
      if (result.actions.length > 0) {
        this.deps.events.record(
          target(instance),
          'Normal',
          'CacheProvisioned',
          `Redis: ACL user ${tenant.user} confined to ${tenant.namespace}:* (${result.actions.map((a) => a.type).join(', ')})`,
        );
      }
      // Redis reports the password hash it holds, so a converged user needs no login to be known good.
      if (result.actions.length > 0 || !this.verifiedRedis.has(keyOf(instance))) {
        const login = await checkRedisLogin(admin.url, tenant, admin.tls);
        if (!login.ok)
          return {
            ok: false,
            reason: 'RedisLoginFailed',
            message: `login as ${tenant.user} failed: ${login.reason}`,
            retry: true,
          };
        this.verifiedRedis.add(keyOf(instance));
      }
      return {
        ok: true,
        message: `ACL user ${tenant.user} limited to ${tenant.namespace}:*; login verified`,
        actions: result.actions.length,
      };
    } catch (error) {
      this.verifiedRedis.delete(keyOf(instance));
      return storeFailure(error, 'redis');
    }
  }

  private readonly verifiedRedis = new Set<string>();
  private readonly written = new RecentWrites();

  /** The engines' NetworkPolicy while it is enabled; ours is deleted when it is turned off. */
  private async ensureNetworkPolicy(instance: TradingEngineInstance): Promise<void> {
    const desired = buildNetworkPolicy(instance);
    const live = this.deps.caches.networkPolicies.get(
      instance.metadata.namespace,
      instance.metadata.name,
    );
    if (instance.spec.networkPolicy.enabled) {
      await this.ensureOwned(desired, live);
      return;
    }
    if (live && !foreignObjectRefusal(desired, live)) {
      this.deps.log.info(
        { kind: 'NetworkPolicy', name: desired.metadata?.name },
        'deleting: turned off',
      );
      await this.deps.writer.delete(live);
    }
  }

  private async ensureServiceMonitor(instance: TradingEngineInstance): Promise<void> {
    const monitors = this.deps.caches.serviceMonitors;
    if (!monitors || !instance.spec.monitoring.serviceMonitor.enabled) return;
    await this.ensureOwned(
      buildServiceMonitor(instance),
      monitors.get(instance.metadata.namespace, instance.metadata.name),
    );
  }

  /**
   * Applies `desired` unless the live object already has everything it sets.
   * Where server-side apply leaves drift behind (fields another manager
   * added), a JSON patch of the drifted fields puts ours back.
   */
  private async ensureOwned<T extends KubernetesObject>(
    desired: T,
    live: T | undefined,
  ): Promise<T> {
    const key = `${desired.kind}/${desired.metadata?.namespace}/${desired.metadata?.name}`;
    live = this.written.fresher(key, live);
    // The caches hold only labelled objects: an unlabelled one of the same name is read here.
    live ??= await this.deps.writer.read(desired);
    const refusal = foreignObjectRefusal(desired, live);
    if (refusal) throw refusal;
    if (live && isDerivative(desired, live)) return live;
    const what = { kind: desired.kind, name: desired.metadata?.name };
    if (!live) {
      this.deps.log.debug(what, 'creating');
      return this.written.remember(key, await this.deps.writer.apply(desired));
    }
    this.deps.log.info(what, 'repairing drift');
    let applied: T = live;
    try {
      applied = this.written.remember(key, await this.deps.writer.apply(desired));
    } catch (error) {
      if ((error as { code?: number }).code !== 422) throw error;
    }
    if (isDerivative(desired, applied)) return applied;
    const operations = driftPatch(
      desired as Record<string, unknown>,
      applied as Record<string, unknown>,
    );
    this.deps.log.info(
      { ...what, paths: operations.map((operation) => operation.path) },
      'replacing drifted fields',
    );
    return this.written.remember(key, await this.deps.writer.jsonPatch(applied, operations));
  }

  private countActions(store: 'postgres' | 'redis', actions: { type: string }[]): void {
    for (const action of actions)
      this.deps.metrics.storeActions.inc({ store, action: action.type });
  }

  /** Writes status through /status, only when something in it changed. */
  private async writeStatus(
    instance: TradingEngineInstance,
    fields: Partial<InstanceStatus>,
    conditions: ConditionInput[],
  ): Promise<void> {
    const now = (this.deps.now ?? (() => new Date()))();
    const generation = instance.metadata.generation;
    const key = `status/${keyOf(instance)}`;
    const previous = (
      this.written.fresher(key, instance as unknown as KubernetesObject) as {
        status?: InstanceStatus;
      }
    ).status;
    const status: InstanceStatus = {
      ...fields,
      observedGeneration: generation,
      conditions: mergeConditions(previous?.conditions, conditions, generation, now),
    };
    if (previous && isDerivative(status, previous) && isDerivative(previous, status)) return;
    const written = await this.deps.writer.applyStatus(
      instance.metadata.namespace,
      instance.metadata.name,
      status,
    );
    this.written.remember(key, written);
  }

  /** Deletion: Retain disables the logins and keeps the data; Delete drops this instance's own. */
  private async finalize(instance: TradingEngineInstance, log: Logger): Promise<void> {
    const { finalizers } = instance.metadata;
    if (!finalizers?.includes(FINALIZER)) return;
    const identity = (() => {
      try {
        return resolveIdentity(instance);
      } catch {
        return undefined;
      }
    })();
    // An instance that never held its names (invalid, or refused) has nothing of its own to clean up.
    if (identity && !this.conflictOf(instance, identity)) {
      const admin = await this.deps.admin.resolve(instance);
      const secret = this.deps.caches.secrets.get(
        instance.metadata.namespace,
        credentialsSecretName(instance),
      );
      const postgres = this.deps.admin.postgres(admin.postgres);
      const tenant = postgresTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.postgresPassword) ?? '',
        database: (await postgres.database()) || 'postgres',
        connectionLimit: instance.spec.postgres.connectionLimit,
        login: false,
        owner: keyOf(instance),
      });
      const redis = this.deps.admin.redis(admin.redis);
      const user = redisTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.redisPassword) ?? generatePassword(),
        enabled: false,
        owner: keyOf(instance),
      });
      // A store that says the names are someone else's has nothing of this instance to clean up.
      const empty = { actions: [], statements: [], commands: [] };
      const postgresResult = await unlessNotOwned(
        instance.spec.postgres.deletionPolicy === 'Delete'
          ? postgres.remove(tenant)
          : postgres.ensure(tenant),
        empty,
      );
      const redisResult = await unlessNotOwned(
        instance.spec.redis.deletionPolicy === 'Delete' ? redis.remove(user) : redis.ensure(user),
        empty,
      );
      this.countActions('postgres', postgresResult.actions);
      this.countActions('redis', redisResult.actions);
      const message = `PostgreSQL ${instance.spec.postgres.deletionPolicy === 'Delete' ? `schema ${tenant.schema} and role dropped` : `schema ${tenant.schema} kept, login disabled`}; Redis ${instance.spec.redis.deletionPolicy === 'Delete' ? `user and ${user.namespace}:* keys deleted` : `user ${user.user} disabled, keys kept`}`;
      log.info(
        {
          postgres: instance.spec.postgres.deletionPolicy,
          redis: instance.spec.redis.deletionPolicy,
        },
        message,
      );
      this.deps.events.record(target(instance), 'Normal', 'Finalized', message);
    }
    this.verifiedRedis.delete(keyOf(instance));
    this.toldOpenDatabases.delete(keyOf(instance));
    await this.deps.writer.setFinalizers(
      instance.metadata.namespace,
      instance.metadata.name,
      finalizers,
      finalizers.filter((finalizer) => finalizer !== FINALIZER),
    );
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

/**
 * The objects this operator wrote a moment ago. The informer cache catches up
 * a little later; until it does, the written object is the truth, so the next
 * reconcile does not write it again.
 */
class RecentWrites {
  private readonly objects = new Map<string, KubernetesObject>();

  remember<T extends KubernetesObject>(key: string, object: T): T {
    this.objects.set(key, object);
    if (this.objects.size > 10_000) this.objects.delete(this.objects.keys().next().value as string);
    return object;
  }

  /** The cached object, or the one written here when the cache has not seen it yet. */
  fresher<T extends KubernetesObject>(key: string, cached: T | undefined): T | undefined {
    const written = this.objects.get(key) as T | undefined;
    if (!written) return cached;
    const mine = Number(written.metadata?.resourceVersion);
    const theirs = Number(cached?.metadata?.resourceVersion);
    if (cached && !(theirs < mine)) {
      this.objects.delete(key);
      return cached;
    }
    return written;
  }
}

const notPaused = (): ConditionInput => ({
  type: 'Paused',
  status: 'False',
  reason: 'Reconciling',
  message: 'the operator manages this instance',
});

function target(instance: TradingEngineInstance) {
  return { apiVersion: API_VERSION, kind: KIND, metadata: instance.metadata };
}

/** The result of a store step, or `empty` when the store refuses it as not this instance's. */
async function unlessNotOwned<T>(step: Promise<T>, empty: T): Promise<T> {
  try {
    return await step;
  } catch (error) {
    if (error instanceof OwnershipError) return empty;
    throw error;
  }
}

function hostPort(override: string | undefined, host: string, port: number): [string, number] {
  if (!override) return [host, port];
  const at = override.lastIndexOf(':');
  return at === -1 ? [override, port] : [override.slice(0, at), Number(override.slice(at + 1))];
}
