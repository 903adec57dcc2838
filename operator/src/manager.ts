import { createServer, type Server, type ServerResponse } from 'node:http';
import type { KubernetesObject } from '@kubernetes/client-node';
import { describeCause } from '@tse/adapter';
import type { Logger } from 'pino';
import { API_VERSION, KIND } from './api/schema.ts';
import { INSTANCE_LABEL, MANAGED_SELECTOR } from './builders/metadata.ts';
import { SERVICE_MONITOR } from './builders/service-monitor.ts';
import type { OperatorConfig } from './config.ts';
import { AdminConnections } from './controller/admin.ts';
import { findCondition } from './controller/conditions.ts';
import { type Caches, InstanceReconciler } from './controller/reconciler.ts';
import { EventRecorder } from './runtime/events.ts';
import { writeFence } from './runtime/fence.ts';
import {
  CacheIndex,
  changedBeyondRevision,
  type ResourceSource,
  type WatchEvent,
  WatchedKind,
} from './runtime/informer.ts';
import { isNotFound, KubeWriter, objectKey, resourcePath } from './runtime/kube.ts';
import { KubeClient } from './runtime/kube-client.ts';
import { loadClusterAccess } from './runtime/kubeconfig.ts';
import { electionCallTimeoutMs, LeaderElector, leaseApi } from './runtime/leader.ts';
import { type ControllerMetrics, createControllerMetrics } from './runtime/metrics.ts';
import { SOURCES, source } from './runtime/sources.ts';
import { type Priority, WorkQueue } from './runtime/workqueue.ts';

const CONTROLLER = 'tradingengineinstance';
/** Every API request but watches gives up after this long. */
const API_REQUEST_TIMEOUT_MS = 30_000;
/** /healthz fails once a watch has been failing for this long: a restart may help, waiting did not. */
const WATCH_FAILURE_THRESHOLD_MS = 120_000;

/** A running operator. */
export interface Operator {
  queue: WorkQueue;
  metrics: ControllerMetrics;
  writer: KubeWriter;
  /** The port /metrics, /healthz and /readyz listen on. */
  port: number;
  /** Resolves once this replica leads and its caches are synced. */
  leading: Promise<void>;
  /** Drains running reconciles (bounded), releases the lease, and closes everything. */
  stop(): Promise<void>;
}

/**
 * Starts the operator, as controller-runtime's manager does: health and
 * metrics at once; the caches on every replica (a standby keeps them warm, so
 * that it reconciles as soon as it leads); then, as the leader with synced
 * caches, the work queue. `onFatal` is called when leadership is lost (the
 * process should exit).
 */
export async function startOperator(
  config: OperatorConfig,
  log: Logger,
  onFatal: (reason: string) => void,
): Promise<Operator> {
  const access = loadClusterAccess(config.kubeconfig);
  // The lease has a client of its own, without the fence and with shorter timeouts.
  const electionClient = config.leaderElection
    ? new KubeClient(access, {
        requestTimeoutMs: electionCallTimeoutMs(config.leaderElectionTiming),
      })
    : undefined;
  const elector = electionClient
    ? new LeaderElector(leaseApi(electionClient, config.leaseNamespace, config.leaseName), {
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: config.identity,
        timing: config.leaderElectionTiming,
        log,
      })
    : undefined;
  // Every write (Kubernetes, Events included, PostgreSQL, Redis) asks right before it is sent.
  const fence = writeFence(elector && (() => elector.isLeader()));
  const kc = new KubeClient(access, { requestTimeoutMs: API_REQUEST_TIMEOUT_MS, fence });
  const caches = buildCaches(kc, config.watchNamespaces, log);
  const metrics = createControllerMetrics(() =>
    caches.instances
      .list()
      .map(
        (object) =>
          (object as { status?: { conditions?: { type: string; status: string }[] } }).status
            ?.conditions,
      ),
  );
  const writer = new KubeWriter(kc);
  const admin = new AdminConnections(
    kc,
    {
      postgres: { url: config.postgresAdminUrl, ca: config.postgresAdminCa },
      redis: { url: config.redisAdminUrl, ca: config.redisAdminCa },
    },
    { fence },
  );
  const events = new EventRecorder(kc, { component: 'trading-engine-operator', log });
  const queue = new WorkQueue({
    name: CONTROLLER,
    concurrency: config.concurrency,
    metrics,
    onError: (key, error, retryInMs) =>
      log.warn(
        { instance: key, err: describeCause(error), retry_in_ms: retryInMs },
        'reconcile failed; retrying',
      ),
  });
  const reconciler = new InstanceReconciler({
    caches,
    writer,
    admin,
    events,
    metrics,
    log,
    engineImage: config.engineImage,
    postgresPolicy: { revokePublicConnect: config.postgresRevokePublicConnect },
    resyncMs: config.resyncSeconds * 1000,
    requeue: (key) => queue.add(key),
  });
  routeEvents(caches, queue, (object) => reconciler.isOwnEcho(object));

  const state = { synced: false, stopping: false };
  const server = await serveHealth(config, metrics, {
    ready: () =>
      state.stopping
        ? 'stopping'
        : state.synced
          ? undefined
          : `waiting for the caches: ${unsynced(caches).join(', ')} not listed yet`,
    healthy: () => failingWatches(caches, WATCH_FAILURE_THRESHOLD_MS),
  });
  const port = (server.address() as { port: number }).port;

  const synced = startCaches(caches).then(() => {
    state.synced = true;
    log.info('caches synced');
  });
  synced.catch(() => {}); // a stop before the caches synced: `leading` reports it
  const serviceMonitors = new ServiceMonitorWatch(kc, caches, queue, config.watchNamespaces, log);

  const leading = lead({
    elector,
    synced,
    onLost: (reason) => {
      metrics.leader.set({ name: config.leaseName }, 0);
      onFatal(`lost leadership: ${reason}`);
    },
    onLeading: () => metrics.leader.set({ name: config.leaseName }, 1),
    reconcile: async () => {
      await serviceMonitors.start();
      log.info(
        {
          namespaces: config.watchNamespaces.length ? config.watchNamespaces : 'all',
          concurrency: config.concurrency,
        },
        'caches synced; reconciling',
      );
      queue.start((key) => reconciler.reconcile(key));
    },
  });
  leading.catch((error) => {
    if (!state.stopping) onFatal(`could not start: ${describeCause(error)}`);
  });

  return {
    queue,
    metrics,
    writer,
    port,
    leading,
    async stop() {
      state.stopping = true;
      serviceMonitors.stop();
      // Running reconciles finish; queued keys are left to the next leader.
      const drained = await queue.stop(config.shutdownDrainMs);
      if (drained) await elector?.release();
      else
        log.warn(
          { running: queue.active, drain_ms: config.shutdownDrainMs },
          'reconciles still running after the drain timeout: the lease is left to expire',
        );
      await Promise.allSettled(allCaches(caches).map((cache) => cache.stop()));
      await admin.close();
      kc.close();
      electionClient?.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The caches the reconciler reads: the instances, and the objects it owns by the operator's label. */
function buildCaches(kc: KubeClient, namespaces: string[], log: Logger): Caches {
  // Everything but the instances is watched by the operator's label: unrelated objects cost nothing.
  const owned = <T extends KubernetesObject>(kind: ResourceSource<T>) =>
    new WatchedKind(kc, kind, { namespaces, labelSelector: MANAGED_SELECTOR, log });
  const pods = owned(SOURCES.pods);
  return {
    instances: new WatchedKind(kc, source(API_VERSION, KIND), { namespaces, log }),
    deployments: owned(SOURCES.deployments),
    services: owned(SOURCES.services),
    secrets: owned(SOURCES.secrets),
    pods,
    podsByInstance: new CacheIndex(pods, (pod) => {
      const instance = pod.metadata?.labels?.[INSTANCE_LABEL];
      return instance === undefined ? undefined : `${pod.metadata?.namespace}/${instance}`;
    }),
    podDisruptionBudgets: owned(SOURCES.podDisruptionBudgets),
    networkPolicies: owned(SOURCES.networkPolicies),
  };
}

function allCaches(caches: Caches): WatchedKind<KubernetesObject>[] {
  return [
    caches.instances,
    caches.deployments,
    caches.services,
    caches.secrets,
    caches.pods,
    caches.podDisruptionBudgets,
    caches.networkPolicies,
    caches.serviceMonitors,
  ].filter((cache): cache is WatchedKind<KubernetesObject> => cache !== undefined);
}

/** Resolves once every cache has completed a LIST (each retries on its own meanwhile). */
async function startCaches(caches: Caches): Promise<void> {
  await Promise.all(allCaches(caches).map((cache) => cache.start()));
}

function unsynced(caches: Caches): string[] {
  return allCaches(caches)
    .filter((cache) => !cache.hasSynced())
    .map((cache) => cache.kind);
}

/** Why the process is unhealthy: the watches that have failed for longer than `thresholdMs`. */
function failingWatches(caches: Caches, thresholdMs: number): string | undefined {
  const failing = allCaches(caches).filter((cache) => cache.failingFor() > thresholdMs);
  if (failing.length === 0) return undefined;
  return `watches failing for over ${thresholdMs / 1000} s: ${failing.map((c) => c.kind).join(', ')}`;
}

/**
 * Which instance a change concerns, and in which lane of the queue it waits:
 * an instance itself (unless only its status changed), or the instance named
 * by an owned object's label. What is new or changed goes in the high lane;
 * what was only met again in a LIST goes low (see `instancePriority` and
 * `ownedPriority`). Keys queued before this replica leads wait for the queue
 * to start.
 */
function routeEvents(
  caches: Caches,
  queue: WorkQueue,
  isOwnEcho: (object: KubernetesObject) => boolean,
): void {
  // An update that changes only status (our own write) needs no reconcile: only
  // generation, deletion and finalizers are looked at (a generation predicate).
  const seen = new Map<string, string>();
  caches.instances.on((event, object) => {
    const key = objectKey(object);
    const meta = object.metadata;
    const fingerprint = `${meta?.generation}|${meta?.deletionTimestamp ?? ''}|${(meta?.finalizers ?? []).join(',')}`;
    if (event === 'delete') seen.delete(key);
    else if (event === 'update' && seen.get(key) === fingerprint) return;
    else seen.set(key, fingerprint);
    queue.add(key, instancePriority(event, object));
    // A deleted instance may free names that a refused one is waiting for.
    if (event === 'delete') {
      for (const other of caches.instances.list()) {
        const ready = findCondition(
          (other as { status?: { conditions?: never[] } }).status?.conditions,
          'Ready',
        );
        if (ready?.reason === 'NameConflict') queue.add(objectKey(other));
      }
    }
  });
  caches.deployments.on(ownerRouter(queue, caches.deployments, isOwnEcho));
  caches.services.on(ownerRouter(queue, caches.services, isOwnEcho));
  caches.secrets.on(ownerRouter(queue, caches.secrets, isOwnEcho));
  // A pod that comes, goes or changes readiness may change who trades.
  caches.pods.on(ownerRouter(queue, caches.pods, isOwnEcho));
  caches.podDisruptionBudgets.on(ownerRouter(queue, caches.podDisruptionBudgets, isOwnEcho));
  caches.networkPolicies.on(ownerRouter(queue, caches.networkPolicies, isOwnEcho));
}

/**
 * The lane of an instance's event. An instance added whose status says it
 * was reconciled at its current generation is one met again (the LIST at
 * start, a relist, a new leader's cache): low, so that it does not delay the
 * new and changed ones. Anything else is high: a new instance (no status
 * yet), one created or changed while no operator ran, a change of spec,
 * finalizers or deletion. controller-runtime tells the initial LIST by the
 * event alone; the status also tells what happened while nothing watched.
 */
export function instancePriority(event: WatchEvent, object: KubernetesObject): Priority {
  const meta = object.metadata;
  const observed = (object as { status?: { observedGeneration?: number } }).status
    ?.observedGeneration;
  const unchanged =
    event === 'add' &&
    !meta?.deletionTimestamp &&
    meta?.generation !== undefined &&
    observed === meta.generation;
  return unchanged ? 'low' : 'high';
}

/**
 * The lane of an owned object's event: low while its cache is still in its
 * first LIST (objects that were there before: their instances are reconciled
 * anyway), high after, when each event is a change (a pod becoming Ready is
 * what a new instance waits for).
 */
export function ownedPriority(event: WatchEvent, cache: { hasSynced(): boolean }): Priority {
  return event === 'add' && !cache.hasSynced() ? 'low' : 'high';
}

/**
 * Routes an owned object's change to the instance its label names (and to
 * the one it named before, when relabelled), unless nothing the cache keeps
 * changed, or the change is the operator's own write coming back (the
 * reconcile that wrote it knows it; its echo would only run it again).
 */
export const ownerRouter =
  (
    queue: Pick<WorkQueue, 'add'>,
    cache: { hasSynced(): boolean },
    isOwnEcho: (object: KubernetesObject) => boolean = () => false,
  ) =>
  (event: WatchEvent, object: KubernetesObject, previous?: KubernetesObject) => {
    // Nothing the reconciler reads changed (a Deployment's status, a pod's short of readiness).
    if (previous && !changedBeyondRevision(previous, object)) return;
    if (event !== 'delete' && isOwnEcho(object)) return;
    const namespace = object.metadata?.namespace;
    const owner = object.metadata?.labels?.[INSTANCE_LABEL];
    if (owner) queue.add(`${namespace}/${owner}`, ownedPriority(event, cache));
    // Relabelled away from an instance: that one lost an object it may need.
    const before = previous?.metadata?.labels?.[INSTANCE_LABEL];
    if (before && before !== owner) queue.add(`${namespace}/${before}`, 'high');
  };

/**
 * ServiceMonitors are watched only where their CRD exists: looked for when
 * reconciling starts and every 30 s after, until found.
 */
class ServiceMonitorWatch {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly kc: KubeClient;
  private readonly caches: Caches;
  private readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly namespaces: string[];

  constructor(kc: KubeClient, caches: Caches, queue: WorkQueue, namespaces: string[], log: Logger) {
    this.kc = kc;
    this.namespaces = namespaces;
    this.caches = caches;
    this.queue = queue;
    this.log = log;
  }

  async start(): Promise<void> {
    await this.look().catch((error) =>
      this.log.warn({ err: error }, 'could not look for the ServiceMonitor CRD'),
    );
    this.timer = setInterval(() => void this.look().catch(() => {}), 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    void this.starting?.stop();
  }

  /** A cache being started: one at a time, so a LIST that keeps failing does not pile up watches. */
  private starting: WatchedKind<KubernetesObject> | undefined;

  private async look(): Promise<void> {
    if (this.caches.serviceMonitors || this.starting || this.stopped) return;
    const crd = resourcePath(
      'apiextensions.k8s.io/v1',
      'CustomResourceDefinition',
      '',
      `${SERVICE_MONITOR.plural}.${SERVICE_MONITOR.group}`,
    );
    const exists = await this.kc.request('GET', crd).then(
      () => true,
      (error) => {
        if (isNotFound(error)) return false;
        throw error;
      },
    );
    if (!exists) return;
    const monitorSource = source(
      `${SERVICE_MONITOR.group}/${SERVICE_MONITOR.version}`,
      SERVICE_MONITOR.kind,
    );
    const monitors = new WatchedKind(this.kc, monitorSource, {
      namespaces: this.namespaces,
      labelSelector: MANAGED_SELECTOR,
      log: this.log,
    });
    monitors.on(ownerRouter(this.queue, monitors));
    this.starting = monitors;
    try {
      await monitors.start();
    } finally {
      this.starting = undefined;
    }
    if (this.stopped) return;
    this.caches.serviceMonitors = monitors;
    this.log.info('ServiceMonitor CRD found: engines get ServiceMonitors');
    // Every instance gains a ServiceMonitor: a resync, behind new and changed instances.
    for (const instance of this.caches.instances.list()) this.queue.add(objectKey(instance), 'low');
  }
}

/**
 * The leading phase: wait for the lease (if elected), then for the caches,
 * then reconcile. Nothing is reconciled from a cache that has not listed.
 */
async function lead(phase: {
  elector: LeaderElector | undefined;
  synced: Promise<void>;
  onLost: (reason: string) => void;
  onLeading: () => void;
  reconcile: () => Promise<void>;
}): Promise<void> {
  if (phase.elector) await phase.elector.acquire(phase.onLost);
  phase.onLeading();
  await phase.synced;
  await phase.reconcile();
}

/**
 * /metrics; /healthz, ok unless a watch has been failing for too long (a
 * liveness probe restarts the process); /readyz, ok once every cache has
 * listed, on a standby as on the leader, and no longer once stopping.
 */
async function serveHealth(
  config: OperatorConfig,
  metrics: ControllerMetrics,
  checks: { ready: () => string | undefined; healthy: () => string | undefined },
): Promise<Server> {
  const answer = (problem: string | undefined, response: ServerResponse) => {
    response.statusCode = problem ? 503 : 200;
    response.end(problem ? `not ok: ${problem}` : 'ok');
  };
  const server = createServer(async (request, response) => {
    if (request.url === '/healthz') return answer(checks.healthy(), response);
    if (request.url === '/readyz') return answer(checks.ready(), response);
    if (request.url === '/metrics') {
      response.setHeader('content-type', metrics.registry.contentType);
      return response.end(await metrics.registry.metrics());
    }
    response.statusCode = 404;
    response.end('not found');
  });
  await new Promise<void>((resolve) =>
    server.listen(config.metricsPort, config.metricsHost, resolve),
  );
  return server;
}
