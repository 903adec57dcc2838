import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import { startCluster } from '../cluster/control-plane.ts';
import { converged } from '../support/converged.ts';
import { adminQuery, withDatabase } from '../support/fixtures.ts';
import { startOperatorProcess } from '../support/operator-process.ts';
import { providePostgres, provideRedis } from '../support/stores.ts';
import { percentile, printTable, progress, round } from './report.ts';

const TEI = {
  group: 'trading.tse.io',
  version: 'v1alpha1',
  plural: 'tradingengineinstances',
} as const;

/**
 * The operator's memory at 0 and N instances and with 10,000 unrelated
 * ConfigMaps and Secrets in the cluster (its watches are label-scoped), and
 * the time a new instance takes to be Ready while idle and during a burst
 * of N others (in another namespace), and the ratio of the two p99s.
 */
export async function operatorMemoryBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string', default: '100' },
      unrelated: { type: 'string', default: '10000' },
      probes: { type: 'string', default: '10' },
      /** Instances created at once while the probes are timed: 100, whatever the instances. */
      burst: { type: 'string', default: '100' },
      /** The operator's MAX_CONCURRENT_RECONCILES; its own default unless given. */
      concurrency: { type: 'string' },
    },
  });
  const count = Number(values.instances);
  const unrelated = Number(values.unrelated);
  const probes = Number(values.probes);
  const burstSize = Number(values.burst);
  const [cluster, postgres, redis] = await Promise.all([
    startCluster({ nodes: Math.max(3, Math.ceil((2 * count) / 200)) }),
    providePostgres(),
    provideRedis(),
  ]);
  try {
    await adminQuery(postgres.url, 'create database bench');
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const { spawnSync } = await import('node:child_process');
    spawnSync(cluster.binaries?.kubectl ?? 'kubectl', [
      '--kubeconfig',
      cluster.kubeconfig,
      'apply',
      '--server-side',
      '-f',
      new URL('../../crds/', import.meta.url).pathname,
    ]);
    for (const namespace of ['bench', 'burst', 'noise'])
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const operator = await startOperatorProcess(
      {
        KUBECONFIG: cluster.kubeconfig,
        POSTGRES_ADMIN_URL: withDatabase(postgres.url, 'bench'),
        REDIS_ADMIN_URL: redis.url,
        LEADER_ELECTION: 'false',
        LOG_LEVEL: 'warn',
        ...(values.concurrency && { MAX_CONCURRENT_RECONCILES: values.concurrency }),
      },
      // Memory is measured as the image runs the operator: compiled, with its flags.
      { compiled: true },
    );
    const pid = operator.process.child.pid;
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    /** The median of five readings a second apart: garbage collection makes single readings jumpy. */
    const settledRss = async () => {
      const readings: number[] = [];
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        readings.push(rss());
      }
      return percentile(readings, 50);
    };
    const pool = async <T>(
      items: T[],
      concurrency: number,
      work: (item: T) => Promise<unknown>,
    ) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < items.length) await work(items[next++] as T);
        }),
      );
    };
    const create = (namespace: string, name: string) =>
      custom.createNamespacedCustomObject({
        ...TEI,
        namespace,
        body: {
          apiVersion: 'trading.tse.io/v1alpha1',
          kind: 'TradingEngineInstance',
          metadata: { name },
          spec: {},
        },
      });
    const isReady = async (namespace: string, name: string) => {
      const object = (await custom.getNamespacedCustomObject({ ...TEI, namespace, name })) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return converged(object.status?.conditions);
    };
    // Where a probe's time goes: the operator until its Deployment exists, the cluster
    // (controller-manager, scheduler, node) until its pod is Ready, the operator until its
    // status says so. Seen on watches of the probes' namespace as the events arrive.
    const seen = new Map<string, { deployment?: number; podReady?: number }>();
    const mark = (name: string, step: 'deployment' | 'podReady') => {
      const entry = seen.get(name) ?? {};
      entry[step] ??= performance.now();
      seen.set(name, entry);
    };
    const watch = new Watch(kc);
    // Opened just before the probes: a watch silent for a while (the client's idle timeout) ends.
    const watchProbes = () =>
      Promise.all([
        watch.watch(
          '/apis/apps/v1/namespaces/bench/deployments',
          {},
          (_type, object: { metadata: { name: string } }) =>
            mark(object.metadata.name, 'deployment'),
          () => {},
        ),
        watch.watch(
          '/api/v1/namespaces/bench/pods',
          {},
          (
            _type,
            pod: {
              metadata: { ownerReferences?: { kind: string; name: string }[] };
              status?: { conditions?: { type: string; status: string }[] };
            },
          ) => {
            const replicaSet = pod.metadata.ownerReferences?.find((o) => o.kind === 'ReplicaSet');
            const ready = pod.status?.conditions?.some(
              (c) => c.type === 'Ready' && c.status === 'True',
            );
            // A Deployment's ReplicaSet is named after it: NAME-<hash>.
            if (replicaSet && ready) mark(replicaSet.name.replace(/-[^-]+$/, ''), 'podReady');
          },
          () => {},
        ),
      ]);
    const timeToReady = async (namespace: string, name: string) => {
      const started = performance.now();
      await create(namespace, name);
      while (!(await isReady(namespace, name)))
        await new Promise((resolve) => setTimeout(resolve, 50));
      const total = performance.now() - started;
      const { deployment = Number.NaN, podReady = Number.NaN } = seen.get(name) ?? {};
      return {
        total,
        operatorApply: deployment - started,
        cluster: podReady - deployment,
        operatorStatus: started + total - podReady,
      };
    };
    const names = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);

    const rssEmpty = await settledRss();
    const bar = progress('instances Ready', count);
    await pool(names('mem', count), 8, (name) => create('bench', name));
    for (let ready = 0; ready < count; ) {
      const list = (await custom.listNamespacedCustomObject({ ...TEI, namespace: 'bench' })) as {
        items: { status?: { conditions?: { type: string; status: string }[] } }[];
      };
      const now = list.items.filter((item) => converged(item.status?.conditions)).length;
      for (; ready < now; ready++) bar.tick();
      await new Promise((resolve) => setTimeout(resolve, Math.max(250, count)));
    }
    bar.done();
    const rssInstances = await settledRss();

    const noise = progress('unrelated objects', unrelated);
    await pool(names('noise', unrelated), 16, async (name) => {
      const body = { metadata: { name }, data: { value: 'x'.repeat(256) } };
      if (Number(name.slice(-5)) % 2 === 0)
        await core.createNamespacedConfigMap({ namespace: 'noise', body });
      else
        await core.createNamespacedSecret({
          namespace: 'noise',
          body: { metadata: { name }, stringData: body.data },
        });
      noise.tick();
    });
    noise.done();
    const rssUnrelated = await settledRss();

    type Probe = Awaited<ReturnType<typeof timeToReady>>;
    const watches = await watchProbes();
    const idleProbes: Probe[] = [];
    for (const name of names('idle', probes)) idleProbes.push(await timeToReady('bench', name));
    const burstProbes: Probe[] = [];
    const burstCreation = pool(names('burst', burstSize), 8, (name) => create('burst', name));
    for (const name of names('probe', probes)) burstProbes.push(await timeToReady('bench', name));
    await burstCreation;
    for (const request of watches) request.abort();
    await operator.kill('SIGTERM');
    const idle = idleProbes.map((probe) => probe.total);
    const burst = burstProbes.map((probe) => probe.total);
    const p99Idle = percentile(idle, 99);
    const p99Burst = percentile(burst, 99);
    const median = (list: Probe[], phase: keyof Probe) =>
      round(
        percentile(
          list.map((probe) => probe[phase]),
          50,
        ),
      );
    printTable(
      'where a new instance waits, median ms (the operator until its Deployment, the cluster until its pod is Ready, the operator until its status)',
      [
        ['idle', idleProbes],
        [`burst of ${burstSize}`, burstProbes],
      ].map(([when, list]) => ({
        when: when as string,
        operator_apply: median(list as Probe[], 'operatorApply'),
        cluster_pod_ready: median(list as Probe[], 'cluster'),
        operator_status: median(list as Probe[], 'operatorStatus'),
        total: median(list as Probe[], 'total'),
      })),
    );

    printTable(
      `operator memory and time to Ready (${count} instances, ${unrelated} unrelated objects)`,
      [
        { figure: 'RSS MB with 0 instances', value: round(rssEmpty) },
        { figure: `RSS MB with ${count} instances`, value: round(rssInstances) },
        {
          figure: `RSS MB with ${unrelated} unrelated ConfigMaps/Secrets too`,
          value: round(rssUnrelated),
        },
        { figure: 'p99 time to Ready, idle (ms)', value: round(p99Idle) },
        { figure: `p99 time to Ready during a burst of ${burstSize} (ms)`, value: round(p99Burst) },
        { figure: 'p99 during the burst / p99 idle', value: round(p99Burst / p99Idle) },
      ],
    );
    return {
      instances: count,
      ...(values.concurrency && { concurrency: Number(values.concurrency) }),
      unrelated_objects: unrelated,
      burst: burstSize,
      rss_mb_empty: round(rssEmpty),
      rss_mb_instances: round(rssInstances),
      rss_mb_with_unrelated: round(rssUnrelated),
      unrelated_cost_ratio: round(rssUnrelated / rssInstances),
      p99_ready_idle_ms: round(p99Idle),
      p99_ready_burst_ms: round(p99Burst),
      p99_ready_burst_ratio: round(p99Burst / p99Idle),
    };
  } finally {
    await Promise.allSettled([cluster.stop(), postgres.stop(), redis.stop()]);
  }
}
