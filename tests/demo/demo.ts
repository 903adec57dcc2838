// npm run demo [-- --once]
//
// The whole product on this machine: a local Kubernetes control plane,
// PostgreSQL and Redis, the operator, the three example instances; then each
// engine started with its Deployment's pod environment, and a table of what
// the cluster and the engines report. Keeps running until Ctrl-C, or with
// --once exits after the table (0 when everything is right).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { startCluster } from '../cluster/control-plane.ts';
import { type EngineProcess, startEngineProcess } from '../support/engine-process.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { podEnvironment } from '../support/pod-environment.ts';
import { waitFor } from '../support/processes.ts';
import { providePostgres, provideRedis } from '../support/stores.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = ['singleton.yaml', 'lh.yaml', 'alpha.yaml'];
const NAMESPACE = 'trading';
const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });

const started: { stop(): Promise<void> }[] = [];
const step = (text: string) => console.log(`\n==> ${text}`);
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;

async function main(): Promise<boolean> {
  const begin = Date.now();
  step('starting the local control plane, PostgreSQL and Redis');
  const [cluster, postgres, redis] = await Promise.all([
    startCluster({ log: (line) => console.log(`    ${line}`) }),
    providePostgres(),
    provideRedis(),
  ]);
  started.push(cluster, postgres, redis);
  console.log(`    ${postgres.describe}\n    ${redis.describe}`);
  const kubectl = (args: string[]) => {
    const result = spawnSync(
      cluster.binaries?.kubectl ?? 'kubectl',
      ['--kubeconfig', cluster.kubeconfig, ...args],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr.trim()}`);
    return result.stdout.trim();
  };

  step('installing the CRD and starting the operator');
  console.log(`    ${kubectl(['apply', '--server-side', '-f', `${root}crds/`])}`);
  const operator: OperatorProcess = await startOperatorProcess({
    KUBECONFIG: cluster.kubeconfig,
    POSTGRES_ADMIN_URL: postgres.url,
    REDIS_ADMIN_URL: redis.url,
    LEADER_ELECTION: 'false',
  });
  started.push({ stop: () => operator.kill('SIGTERM') });
  console.log(`    operator running (metrics ${operator.metricsUrl})`);

  step(`applying examples/${EXAMPLES.join(', examples/')}`);
  console.log(indent(kubectl(['apply', '--server-side', '-f', `${root}examples/namespace.yaml`])));
  for (const file of EXAMPLES)
    console.log(indent(kubectl(['apply', '--server-side', '-f', `${root}examples/${file}`])));

  step('waiting for the instances to be Ready');
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  type Instance = {
    metadata: { name: string };
    status?: {
      conditions?: { type: string; status: string; reason: string }[];
      identity?: Record<string, string>;
    };
  };
  const list = async () =>
    (
      (await custom.listNamespacedCustomObject({
        group: 'trading.tse.io',
        version: 'v1alpha1',
        plural: 'tradingengineinstances',
        namespace: NAMESPACE,
      })) as { items: Instance[] }
    ).items;
  const ready = (instance: Instance) =>
    instance.status?.conditions?.find((c) => c.type === 'Ready');
  let last = '';
  const waitStart = Date.now();
  const instances = await waitFor(
    'every instance to be Ready',
    async () => {
      const items = await list();
      const line = items
        .map(
          (item) =>
            `${item.metadata.name}=${ready(item)?.status ?? '…'}${ready(item)?.status === 'True' ? '' : ` (${ready(item)?.reason ?? 'pending'})`}`,
        )
        .join('  ');
      if (line !== last) console.log(`    [${elapsed(waitStart)}] ${line}`);
      last = line;
      return items.length === EXAMPLES.length &&
        items.every((item) => ready(item)?.status === 'True')
        ? items
        : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );

  step("starting each engine with its Deployment's pod environment");
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const engines = new Map<string, EngineProcess>();
  for (const instance of instances) {
    const deployment = await apps.readNamespacedDeployment({
      namespace: NAMESPACE,
      name: instance.metadata.name,
    });
    const engine = await startEngineProcess(await podEnvironment(core, deployment));
    started.push({ stop: async () => void (await engine.signal('SIGTERM')) });
    engines.set(instance.metadata.name, engine);
    console.log(`    ${instance.metadata.name}: engine on ${engine.url}`);
  }
  const reports = new Map<string, Record<string, unknown>>();
  for (const [name, engine] of engines) {
    reports.set(
      name,
      await waitFor(`${name}'s engine to reach its stores`, async () => {
        const { body } = await engine.get('/api/v1/health');
        return body.status === 'healthy' ? body : undefined;
      }).catch(async () => (await engine.get('/api/v1/health')).body),
    );
  }

  const rows = instances.map((instance) => {
    const identity = instance.status?.identity ?? {};
    const health = reports.get(instance.metadata.name) ?? {};
    return {
      NAME: instance.metadata.name,
      INSTANCE: identity.instanceName ?? '',
      SCHEMA: identity.postgresSchema ?? '',
      'REDIS NAMESPACE': identity.redisNamespace ?? '',
      READY: ready(instance)?.status ?? '',
      'ENGINE REPORTS': `${health.instance} / ${health.postgres_schema} / ${health.redis_namespace}`,
      'ENGINE STATUS': String(health.status),
    };
  });
  step(`the result (${elapsed(begin)} from start)`);
  console.log(table(rows));
  const right = rows.every(
    (row) =>
      row.READY === 'True' &&
      row['ENGINE STATUS'] === 'healthy' &&
      row['ENGINE REPORTS'] === `${row.INSTANCE} / ${row.SCHEMA} / ${row['REDIS NAMESPACE']}`,
  );
  console.log(
    right
      ? '\nevery instance is Ready, and each engine reports the identity the operator derived'
      : '\nNOT everything is right: see the table',
  );
  return right;
}

function table(rows: Record<string, string>[]): string {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    line(columns),
    ...rows.map((row) => line(columns.map((column) => row[column] ?? ''))),
  ].join('\n');
}

const indent = (text: string) => text.replace(/^/gm, '    ');

async function cleanUp(): Promise<void> {
  for (const item of started.reverse()) await item.stop().catch(() => {});
}

let code = 1;
try {
  const right = await main();
  code = right ? 0 : 1;
  if (!values.once) {
    console.log('\nrunning; press Ctrl-C to stop and clean up');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    code = 0;
  }
} catch (error) {
  console.error(`\ndemo failed: ${(error as Error).message}`);
} finally {
  step('stopping everything');
  await cleanUp();
}
process.exit(code);
