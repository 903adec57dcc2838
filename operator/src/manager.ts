import { createServer, type Server } from 'node:http';
import { ApiextensionsV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { describeCause } from '@tse/adapter';
import type { Logger } from 'pino';
import { GROUP, KIND, PLURAL, VERSION } from './api/schema.ts';
import { INSTANCE_LABEL, MANAGED_SELECTOR } from './builders/metadata.ts';
import { SERVICE_MONITOR } from './builders/service-monitor.ts';
import type { OperatorConfig } from './config.ts';
import { AdminConnections } from './controller/admin.ts';
import { findCondition } from './controller/conditions.ts';
import { type Caches, InstanceReconciler } from './controller/reconciler.ts';
import { EventRecorder } from './runtime/events.ts';
import { type ResourceSource, WatchedKind } from './runtime/informer.ts';
import { KubeWriter } from './runtime/kube.ts';
import { LeaderElector } from './runtime/leader.ts';
import { type ControllerMetrics, createControllerMetrics } from './runtime/metrics.ts';
import { sources } from './runtime/sources.ts';
import { WorkQueue } from './runtime/workqueue.ts';

const CONTROLLER = 'tradingengineinstance';

/** A running operator. */
export interface Operator {
  queue: WorkQueue;
  metrics: ControllerMetrics;
  writer: KubeWriter;
  /** The port /metrics, /healthz and /readyz listen on. */
  port: number;
  /** Resolves once this replica leads and its caches are synced. */
  leading: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the operator: health and metrics at once; then, as the leader,
 * informers on the instances and the objects they own, and the work queue.
 * `onFatal` is called when leadership is lost (the process should exit).
 */
export async function startOperator(
  config: OperatorConfig,
  log: Logger,
  onFatal: (reason: string) => void,
): Promise<Operator> {
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

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
  const admin = new AdminConnections(kc, {
    postgres: { url: config.postgresAdminUrl, ca: config.postgresAdminCa },
    redis: { url: config.redisAdminUrl, ca: config.redisAdminCa },
  });
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
  // A standby replica is ready (it is healthy, waiting to lead); the leader once its caches are synced.
  const state = { synced: false, stopping: false, leader: false };
  const server = await serveHealth(
    config,
    metrics,
    () => !state.stopping && (!state.leader || state.synced),
  );
  const port = (server.address() as { port: number }).port;

  const elector = config.leaderElection
    ? new LeaderElector(kc, {
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: config.identity,
        log,
      })
    : undefined;
  const source = sources(kc);
  const namespaces = config.watchNamespaces;
  // Everything but the instances is watched by the operator's label: unrelated objects cost nothing.
  const owned = <T extends KubernetesObject>(kind: ResourceSource<T>) =>
    new WatchedKind(kc, kind, { namespaces, labelSelector: MANAGED_SELECTOR, log });
  const caches: Caches = {
    instances: new WatchedKind(kc, source.customSource(KIND, GROUP, VERSION, PLURAL), {
      namespaces,
      log,
    }),
    deployments: owned(source.deployments),
    services: owned(source.services),
    secrets: owned(source.secrets),
    pods: owned(source.pods),
    podDisruptionBudgets: owned(source.podDisruptionBudgets),
    networkPolicies: owned(source.networkPolicies),
  };
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

  const keyOf = (object: KubernetesObject) =>
    `${object.metadata?.namespace}/${object.metadata?.name}`;
  // An update that changes only status (our own write) needs no reconcile: only
  // generation, deletion and finalizers are looked at (a generation predicate).
  const seen = new Map<string, string>();
  caches.instances.on((event, object) => {
    const key = keyOf(object);
    const meta = object.metadata;
    const fingerprint = `${meta?.generation}|${meta?.deletionTimestamp ?? ''}|${(meta?.finalizers ?? []).join(',')}`;
    if (event === 'delete') seen.delete(key);
    else if (event === 'update' && seen.get(key) === fingerprint) return;
    else seen.set(key, fingerprint);
    queue.add(key);
    // A deleted instance may free names that a refused one is waiting for.
    if (event === 'delete') {
      for (const other of caches.instances.list()) {
        const ready = findCondition(
          (other as { status?: { conditions?: never[] } }).status?.conditions,
          'Ready',
        );
        if (ready?.reason === 'NameConflict') queue.add(keyOf(other));
      }
    }
  });
  const toOwner = (_: unknown, object: KubernetesObject) => {
    const owner = object.metadata?.labels?.[INSTANCE_LABEL];
    if (owner) queue.add(`${object.metadata?.namespace}/${owner}`);
  };
  caches.deployments.on(toOwner);
  caches.services.on(toOwner);
  caches.secrets.on(toOwner);
  // A pod that comes, goes or changes readiness may change who trades.
  caches.pods.on(toOwner);
  caches.podDisruptionBudgets.on(toOwner);
  caches.networkPolicies.on(toOwner);

  let monitorTimer: NodeJS.Timeout | undefined;
  const watchServiceMonitors = async () => {
    if (caches.serviceMonitors || state.stopping) return;
    const exists = await kc
      .makeApiClient(ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: `${SERVICE_MONITOR.plural}.${SERVICE_MONITOR.group}` })
      .then(
        () => true,
        () => false,
      );
    if (!exists) return;
    const monitors = owned(
      source.customSource(
        SERVICE_MONITOR.kind,
        SERVICE_MONITOR.group,
        SERVICE_MONITOR.version,
        SERVICE_MONITOR.plural,
      ),
    );
    monitors.on(toOwner);
    await monitors.start();
    caches.serviceMonitors = monitors;
    log.info('ServiceMonitor CRD found: engines get ServiceMonitors');
    for (const instance of caches.instances.list()) queue.add(keyOf(instance));
  };

  const leading = (async () => {
    if (elector) {
      await elector.acquire(() => onFatal('lost leadership'));
      metrics.leader.set({ name: config.leaseName }, 1);
    }
    state.leader = true;
    await Promise.all([
      caches.instances.start(),
      caches.deployments.start(),
      caches.services.start(),
      caches.secrets.start(),
      caches.pods.start(),
      caches.podDisruptionBudgets.start(),
      caches.networkPolicies.start(),
    ]);
    await watchServiceMonitors().catch((error) =>
      log.warn({ err: error }, 'could not look for the ServiceMonitor CRD'),
    );
    monitorTimer = setInterval(() => void watchServiceMonitors().catch(() => {}), 30_000);
    monitorTimer.unref();
    state.synced = true;
    log.info(
      { namespaces: namespaces.length ? namespaces : 'all', concurrency: config.concurrency },
      'caches synced; reconciling',
    );
    queue.start((key) => reconciler.reconcile(key));
  })();
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
      clearInterval(monitorTimer);
      await queue.stop();
      await Promise.allSettled(
        [
          caches.instances,
          caches.deployments,
          caches.services,
          caches.secrets,
          caches.pods,
          caches.podDisruptionBudgets,
          caches.networkPolicies,
          caches.serviceMonitors,
        ].map((cache) => cache?.stop()),
      );
      await elector?.release();
      await admin.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** /metrics, /healthz (the process answers) and /readyz (a standby, or a leader with synced caches). */
async function serveHealth(
  config: OperatorConfig,
  metrics: ControllerMetrics,
  ready: () => boolean,
): Promise<Server> {
  const server = createServer(async (request, response) => {
    if (request.url === '/healthz') return response.end('ok');
    if (request.url === '/readyz') {
      response.statusCode = ready() ? 200 : 503;
      return response.end(ready() ? 'ok' : 'not ready: waiting for leadership or caches');
    }
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
