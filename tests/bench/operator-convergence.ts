import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import {
  deriveIdentity,
  generatePassword,
  generateToken,
  type Identity,
  PostgresProvisioner,
  planPostgres,
  planRedis,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import {
  buildCredentialsSecret,
  buildDeployment,
  buildNetworkPolicy,
  buildPodsService,
  buildService,
  FINALIZER,
  KubeClient,
  KubeWriter,
  loadClusterAccess,
  secretChecksum,
  type TradingEngineInstance,
  tradingEngineInstance,
} from '@tse/operator';
import { Redis } from 'ioredis';
import { startCluster } from '../cluster/control-plane.ts';
import { converged } from '../support/converged.ts';
import {
  aclSetuserCount,
  apiserverWrites,
  apiserverWritesByKind,
  ddlCount,
} from '../support/counters.ts';
import { adminQuery, withDatabase } from '../support/fixtures.ts';
import { startOperatorProcess } from '../support/operator-process.ts';
import { providePostgres, provideRedis } from '../support/stores.ts';
import { printTable, progress, round, timed } from './report.ts';

const TEI = {
  group: 'trading.tse.io',
  version: 'v1alpha1',
  plural: 'tradingengineinstances',
} as const;

/** What the convergence watch reads of an instance. */
interface Instance {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * The writes a new instance needs at the least, one each: its finalizer, its
 * credentials Secret, the engines' NetworkPolicy (before any pod runs), the
 * Deployment, the Service and the headless pods Service, and one status that
 * says where it got to. No ServiceMonitor: this cluster has no such CRD.
 * Not counted: the instance's own creation (the user's write) and its pods'
 * role labels (one per pod, reported apart).
 */
const MINIMUM_WRITES = [
  'finalizer',
  'Secret',
  'NetworkPolicy',
  'Deployment',
  'Service',
  'pods Service',
  'status',
];

/**
 * N instances applied at once until all are Ready, against a plain script
 * reaching the same end state with the same client library and concurrency;
 * then a quiet period in which a converged cluster should see no writes.
 */
export async function operatorConvergenceBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '8' },
      quiet: { type: 'string', default: '60' },
    },
  });
  const count = Number(values.instances);
  const concurrency = Number(values.concurrency);
  console.error(
    `starting the control plane (${Math.max(3, Math.ceil(count / 200))} KWOK nodes), PostgreSQL and Redis`,
  );
  const [cluster, postgres, redis] = await Promise.all([
    startCluster({ nodes: Math.max(3, Math.ceil(count / 200)) }),
    providePostgres(),
    provideRedis(),
  ]);
  const kubectl = (args: string[], input?: string) =>
    spawnSync(
      cluster.binaries?.kubectl ?? 'kubectl',
      ['--kubeconfig', cluster.kubeconfig, ...args],
      { input, encoding: 'utf8', maxBuffer: 256 << 20 },
    );
  try {
    await adminQuery(postgres.url, 'create database bench');
    await adminQuery(
      withDatabase(postgres.url, 'bench'),
      'create extension if not exists pg_stat_statements',
    );
    const adminUrl = withDatabase(postgres.url, 'bench');
    kubectl(['apply', '--server-side', '-f', new URL('../../crds/', import.meta.url).pathname]);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (const namespace of ['bench-operator', 'bench-baseline'])
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const kubectlPath = cluster.binaries?.kubectl ?? 'kubectl';
    const writes = () => apiserverWrites(kubectlPath, cluster.kubeconfig, { operatorOnly: true });
    const writesByKind = () =>
      apiserverWritesByKind(kubectlPath, cluster.kubeconfig, { operatorOnly: true });
    const names = (prefix: string) =>
      Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const pool = async <T>(items: T[], work: (item: T) => Promise<void>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < items.length) await work(items[next++] as T);
        }),
      );
    };
    // Convergence as a watch sees it: a LIST of thousands of instances every few seconds would
    // keep the API server the operator uses busy serialising them, and slow what is measured.
    const watch = new Watch(kc);
    const untilReady = async (namespace: string, label: string) => {
      const bar = progress(label, count);
      const ready = new Set<string>();
      let shown = 0;
      const see = (type: string, item: Instance) => {
        if (type === 'ERROR' || type === 'BOOKMARK') return;
        if (type !== 'DELETED' && converged(item.status?.conditions)) ready.add(item.metadata.name);
        else ready.delete(item.metadata.name);
        for (; shown < ready.size; shown++) bar.tick();
      };
      // A watch ends now and then (the server's timeout, a lost connection): list, watch on.
      for (;;) {
        const list = (await custom.listNamespacedCustomObject({ ...TEI, namespace })) as {
          metadata: { resourceVersion: string };
          items: Instance[];
        };
        ready.clear();
        for (const item of list.items) see('ADDED', item);
        if (ready.size >= count) break;
        await new Promise<void>((resolve) => {
          const watching = watch.watch(
            `/apis/${TEI.group}/${TEI.version}/namespaces/${namespace}/${TEI.plural}`,
            { resourceVersion: list.metadata.resourceVersion },
            (type, item: Instance) => {
              see(type, item);
              if (ready.size < count) return;
              void watching.then((controller) => controller.abort());
              resolve();
            },
            // Ended: at once if the server closed it, after a second if it failed.
            (error) => (error ? setTimeout(resolve, 1000) : resolve()),
          );
          watching.catch(() => setTimeout(resolve, 1000));
        });
        if (ready.size >= count) break;
      }
      bar.done();
    };

    // The floor: the minimum writes and a new tenant's statements, same client, same concurrency.
    // It runs first, on a cluster with no operator: an operator's resyncs of its converged
    // instances would load the API server the floor writes to and flatter the ratio.
    const writer = new KubeWriter(
      new KubeClient(loadClusterAccess(cluster.kubeconfig), { requestTimeoutMs: 30_000 }),
    );
    const pgAdmin = new PostgresProvisioner(adminUrl);
    const redisAdmin = new RedisProvisioner(redis.url);
    const stores = {
      postgres: pgAdmin,
      redis: redisAdmin,
      postgresUrl: new URL(adminUrl),
      redisUrl: new URL(redis.url),
      database: await pgAdmin.database(),
    };
    const floorBar = progress('floor: Ready', count);
    const baseline = await timed(async () => {
      await pool(names('base'), async (name) => {
        const created = await custom.createNamespacedCustomObject({
          ...TEI,
          namespace: 'bench-baseline',
          body: {
            apiVersion: 'trading.tse.io/v1alpha1',
            kind: 'TradingEngineInstance',
            metadata: { name },
            spec: {},
          },
        });
        await floorInstance(writer, core, stores, tradingEngineInstance.parse(created));
        floorBar.tick();
      });
    });
    floorBar.done();
    await pgAdmin.close();
    await redisAdmin.close();
    const floorWrites = [...writer.writes.values()].reduce((sum, n) => sum + n, 0);
    if (floorWrites !== MINIMUM_WRITES.length * count)
      throw new Error(`the floor wrote ${floorWrites} times, not ${MINIMUM_WRITES.length} each`);
    // The operator starts on a cluster as empty as the floor's was: the floor's namespace goes
    // (its instances' finalizers first, or it would wait on them), and so do its pods, which the
    // control plane and the fake nodes would otherwise keep tending through the operator's run.
    await pool(names('base'), (name) =>
      writer.setFinalizers('bench-baseline', name, [FINALIZER], []),
    );
    await removeNamespace(kubectl, 'bench-baseline');
    // The floor's kinds stop changing before the operator starts; pods, ReplicaSets and Events
    // are not counted.
    await settled(() => apiserverWrites(kubectlPath, cluster.kubeconfig));

    // The operator.
    const operator = await startOperatorProcess(
      {
        KUBECONFIG: cluster.kubeconfig,
        POSTGRES_ADMIN_URL: adminUrl,
        REDIS_ADMIN_URL: redis.url,
        WATCH_NAMESPACES: 'bench-operator',
        LEADER_ELECTION: 'false',
        MAX_CONCURRENT_RECONCILES: String(concurrency),
        LOG_LEVEL: 'warn',
      },
      // As the image runs it: compiled, with its flags.
      { compiled: true },
    );
    const rssMb = () =>
      Number(
        /VmRSS:\s+(\d+)/.exec(
          readFileSync(`/proc/${operator.process.child.pid}/status`, 'utf8'),
        )?.[1] ?? 0,
      ) / 1024;
    const idleRss = rssMb();
    const writesBefore = writesByKind();
    const reconcilesBefore = await operator.reconciles();
    const operatorRun = await timed(async () => {
      await pool(names('op'), async (name) => {
        await custom.createNamespacedCustomObject({
          ...TEI,
          namespace: 'bench-operator',
          body: {
            apiVersion: 'trading.tse.io/v1alpha1',
            kind: 'TradingEngineInstance',
            metadata: { name },
            spec: {},
          },
        });
      });
      await untilReady('bench-operator', 'operator: Ready');
    });
    // What the operator still writes after the last instance converged belongs to convergence too.
    await settled(writes);
    const operatorWrites = writesSince(writesBefore, writesByKind());
    const reconciles = (await operator.reconciles()) - reconcilesBefore;
    const convergedRss = rssMb();

    // The quiet period: resyncs run, nothing should be written.
    const quietSeconds = Number(values.quiet);
    const redisClient = new Redis(redis.url);
    const ddl = () => ddlCount(adminUrl);
    const acl = () => aclSetuserCount(redisClient);
    // From an empty statistics table: with thousands of tenants' statements it is full, and the
    // entries it evicts for new ones would take their calls out of the count.
    await adminQuery(adminUrl, 'select pg_stat_statements_reset()');
    const idleBefore = { writes: writes(), ddl: await ddl(), acl: await acl() };
    console.error(`quiet period: ${quietSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, quietSeconds * 1000));
    const idle = {
      writes: writes() - idleBefore.writes,
      ddl: (await ddl()) - idleBefore.ddl,
      acl: (await acl()) - idleBefore.acl,
    };
    redisClient.disconnect();
    const finalRss = rssMb();
    await operator.kill('SIGTERM');

    printTable(`${count} instances, concurrency ${concurrency}`, [
      {
        run: 'operator: apply to all Ready',
        seconds: round(operatorRun.seconds),
        per_instance_ms: round((operatorRun.seconds / count) * 1000),
        machine_cpu_seconds: round(operatorRun.cpuSeconds),
      },
      {
        run: 'plain script: same end state',
        seconds: round(baseline.seconds),
        per_instance_ms: round((baseline.seconds / count) * 1000),
        machine_cpu_seconds: round(baseline.cpuSeconds),
      },
    ]);
    const perInstance = (n: number) => round(n / count);
    const podLabels = operatorWrites.get(POD_LABELS) ?? 0;
    const objectWrites = [...operatorWrites.values()].reduce((sum, n) => sum + n, 0) - podLabels;
    printTable(
      'operator writes per instance, by kind',
      [...operatorWrites].map(([kind, n]) => ({ kind, writes: perInstance(n) })),
    );
    printTable('operator cost', [
      { figure: 'reconciles per instance', value: perInstance(reconciles) },
      {
        figure: `writes per instance (minimum ${MINIMUM_WRITES.length}: ${MINIMUM_WRITES.join(', ')})`,
        value: perInstance(objectWrites),
      },
      { figure: "pods' role labels per instance", value: perInstance(podLabels) },
      {
        figure: `idle writes / DDL / ACL SETUSER in ${quietSeconds}s`,
        value: `${idle.writes} / ${idle.ddl} / ${idle.acl}`,
      },
      {
        figure: 'operator RSS MB: idle / converged / after quiet',
        value: `${round(idleRss)} / ${round(convergedRss)} / ${round(finalRss)}`,
      },
    ]);
    return {
      instances: count,
      seconds: round(operatorRun.seconds),
      baseline_seconds: round(baseline.seconds),
      ratio: round(operatorRun.seconds / baseline.seconds),
      cpu_seconds: round(operatorRun.cpuSeconds),
      baseline_cpu_seconds: round(baseline.cpuSeconds),
      cpu_ratio: round(operatorRun.cpuSeconds / baseline.cpuSeconds),
      reconciles_per_instance: perInstance(reconciles),
      writes_per_instance: perInstance(objectWrites),
      writes_per_instance_minimum: MINIMUM_WRITES.length,
      pod_label_writes_per_instance: perInstance(podLabels),
      idle_writes: idle.writes,
      idle_ddl: idle.ddl,
      idle_acl_setuser: idle.acl,
      rss_mb: round(Math.max(convergedRss, finalRss)),
      rss_mb_idle: round(idleRss),
    };
  } catch (error) {
    console.error('operator-convergence failed:', error);
    throw error;
  } finally {
    await Promise.allSettled([cluster.stop(), postgres.stop(), redis.stop()]);
  }
}

/** The API server's key for the role labels the operator patches onto pods. */
const POD_LABELS = 'pods PATCH';
/** The bench creating the instances: the user's writes, not the operator's. */
const INSTANCE_CREATES = 'tradingengineinstances POST';

/** The operator's writes between two readings of the API server's counts, by kind. */
function writesSince(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const since = new Map<string, number>();
  for (const [kind, n] of after) {
    const delta = n - (before.get(kind) ?? 0);
    if (delta > 0 && kind !== INSTANCE_CREATES) since.set(kind, delta);
  }
  return since;
}

/** Deletes a namespace and returns once it is gone, with everything in it. */
async function removeNamespace(
  kubectl: (args: string[]) => SpawnSyncReturns<string>,
  namespace: string,
): Promise<void> {
  const deleted = kubectl(['delete', 'namespace', namespace, '--wait=false']);
  if (deleted.status !== 0) throw new Error(`could not delete ${namespace}: ${deleted.stderr}`);
  console.error(`removing the floor's namespace ${namespace}`);
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const found = kubectl(['get', 'namespace', namespace, '-o', 'name']);
    if (found.status !== 0 && /NotFound/.test(found.stderr)) return;
    if (found.status !== 0) throw new Error(`could not look for ${namespace}: ${found.stderr}`);
    if (Date.now() > deadline) throw new Error(`${namespace} was not gone after 30 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** Returns once `count` stays the same for two seconds: the writes that follow convergence are in. */
async function settled(count: () => number): Promise<void> {
  let last = count();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const now = count();
    if (now === last) return;
    last = now;
  }
}

/** The admin connections and addresses the floor provisions tenants with. */
interface FloorStores {
  postgres: PostgresProvisioner;
  redis: RedisProvisioner;
  postgresUrl: URL;
  redisUrl: URL;
  database: string;
}

/**
 * One new instance by hand, in the operator's order and with its client,
 * writing together what the operator writes together: each minimum write
 * once, and only the statements a new tenant needs (planned against nothing,
 * so nothing is observed first). The status is written once, when the pods
 * are ready.
 */
async function floorInstance(
  writer: KubeWriter,
  core: CoreV1Api,
  stores: FloorStores,
  instance: TradingEngineInstance,
): Promise<void> {
  const { namespace, name } = instance.metadata;
  const identity = deriveIdentity({ instanceName: name });
  const passwords = { postgres: generatePassword(), redis: generatePassword() };
  const [, secret] = await Promise.all([
    writer.setFinalizers(namespace, name, undefined, [FINALIZER]),
    writer.apply(
      buildCredentialsSecret(
        instance,
        {
          host: stores.postgresUrl.hostname,
          port: Number(stores.postgresUrl.port),
          user: identity.postgresSchema,
          password: passwords.postgres,
          database: stores.database,
        },
        {
          host: stores.redisUrl.hostname,
          port: Number(stores.redisUrl.port),
          user: identity.redisNamespace,
          password: passwords.redis,
        },
        { trade: generateToken(), read: generateToken() },
      ),
    ),
  ]);
  await Promise.all([
    newPostgresTenant(stores, identity, passwords.postgres, `${namespace}/${name}`),
    newRedisTenant(stores, identity, passwords.redis, `${namespace}/${name}`),
  ]);
  await writer.apply(buildNetworkPolicy(instance));
  const [deployment] = await Promise.all([
    writer.apply(
      buildDeployment(instance, {
        identity,
        image: 'trading-engine:0.1.0',
        credentialsChecksum: secretChecksum(secret),
      }),
    ),
    writer.apply(buildService(instance)),
    writer.apply(buildPodsService(instance)),
  ]);
  // The operator's end state is its pods ready (the Deployment's Available comes later): so is this.
  const labelSelector = Object.entries(deployment.spec?.selector.matchLabels ?? {})
    .map(([label, value]) => `${label}=${value}`)
    .join(',');
  for (;;) {
    const pods = await core.listNamespacedPod({ namespace, labelSelector });
    const ready = pods.items.filter((pod) =>
      pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length >= instance.spec.replicas) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const at = new Date().toISOString();
  const condition = (type: string, status: 'True' | 'False', reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    observedGeneration: instance.metadata.generation,
    lastTransitionTime: at,
  });
  await writer.applyStatus(namespace, name, {
    identity,
    credentialsSecret: secret.metadata?.name ?? '',
    replicas: 1,
    readyReplicas: 1,
    standbyReplicas: 1,
    observedGeneration: instance.metadata.generation,
    conditions: [
      condition('Ready', 'False', 'NoActiveEngine', 'no engine holds the instance lock yet'),
      condition('DatabaseReady', 'True', 'Provisioned', `schema ${identity.postgresSchema}`),
      condition('CacheReady', 'True', 'Provisioned', `ACL user ${identity.redisNamespace}`),
      condition('Available', 'False', 'NoActiveEngine', '1/1 engine pods ready'),
      condition('Paused', 'False', 'Reconciling', 'the floor manages this instance'),
    ],
  });
}

/** A new PostgreSQL tenant's statements, in one transaction, as the adapter applies them. */
async function newPostgresTenant(
  stores: FloorStores,
  identity: Identity,
  password: string,
  owner: string,
): Promise<void> {
  const tenant = postgresTenant(identity, { password, database: stores.database, owner });
  const nothing = { canConnect: false, canCreateInPublic: false };
  await stores.postgres.apply(tenant, planPostgres(tenant, nothing));
}

/** A new Redis tenant's commands: the ownership claim and one ACL SETUSER. */
async function newRedisTenant(
  stores: FloorStores,
  identity: Identity,
  password: string,
  owner: string,
): Promise<void> {
  const tenant = redisTenant(identity, { password, owner });
  // With no user to compare against, how the server spells the command rules does not matter.
  await stores.redis.apply(tenant, planRedis(tenant, {}, ''));
}
