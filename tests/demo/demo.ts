// npm run demo [-- --once]
//
// The whole product on this machine, as users run it: builds the images
// (cached), starts a local Kubernetes control plane with a real node
// (containerd + kubelet + kube-proxy) and the PostgreSQL and Redis its pods
// reach, installs the chart with `helm install`, applies the three example
// instances, waits until they are Ready, and prints what the engine pods
// themselves report. Keeps running until Ctrl-C, or with --once exits after
// the table (0 when everything is right).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ENGINE_PORTS } from '@tse/adapter';
import { startCluster } from '../cluster/control-plane.ts';
import { loadBuiltImages } from '../cluster/node/images.ts';
import { startClusterStores } from '../cluster/stores.ts';
import {
  applyExamples,
  EXAMPLES_NAMESPACE,
  installProduct,
  SYSTEM_NAMESPACE,
  type Tools,
  tool,
} from '../support/install.ts';
import { waitFor } from '../support/processes.ts';

const { values } = parseArgs({ options: { once: { type: 'boolean', default: false } } });
const INSTANCES = 3;

const started: { stop(): Promise<void> }[] = [];
const step = (text: string) => console.log(`\n==> ${text}`);
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const indent = (text: string) => text.replace(/^/gm, '    ');

type Condition = { type: string; status: string; reason: string };
type Instance = {
  metadata: { name: string };
  status?: { conditions?: Condition[]; identity?: Record<string, string>; activeEngine?: string };
};
type Pod = {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: { podIP?: string };
};

/** Builds the images with `npm run images`, showing its progress; returns the references it printed. */
async function buildImages(): Promise<{ engine: string; operator: string }> {
  const cli = new URL('../images/cli.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      last = line;
      if (!line.startsWith('{')) console.log(`    ${line}`);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`npm run images exited with ${code}`);
  return JSON.parse(last) as { engine: string; operator: string };
}

async function main(): Promise<boolean> {
  const begin = Date.now();
  step('building the images (npm run images)');
  const images = await buildImages();

  step('starting the local control plane with a real node, PostgreSQL and Redis');
  const cluster = await startCluster({ realNode: true, log: (line) => console.log(`    ${line}`) });
  started.push(cluster);
  const node = cluster.node;
  if (!node) throw new Error('no real node started');
  const stores = await startClusterStores(node.network);
  started.unshift(stores.postgres, stores.redis);
  console.log(`    ${stores.postgres.describe}\n    ${stores.redis.describe}`);
  for (const ref of loadBuiltImages(node)) console.log(`    ${ref} loaded on ${node.name}`);
  const tools: Tools = {
    kubeconfig: cluster.kubeconfig,
    kubectl: cluster.binaries?.kubectl ?? 'kubectl',
    helm: cluster.binaries?.helm ?? 'helm',
  };
  const kubectl = (...args: string[]) => tool(tools, 'kubectl', args);

  step(`helm install of the chart into ${SYSTEM_NAMESPACE}`);
  installProduct(tools, {
    images,
    stores: { postgres: stores.postgres.inClusterUrl, redis: stores.redis.inClusterUrl },
  });
  console.log(indent(kubectl('-n', SYSTEM_NAMESPACE, 'get', 'pods', '-o', 'wide')));

  step('applying examples/namespace.yaml, singleton.yaml, lh.yaml, alpha.yaml');
  for (const output of applyExamples(tools)) console.log(indent(output));

  step('waiting for the instances to be Ready');
  const list = () =>
    (
      JSON.parse(kubectl('get', 'tei', '-n', EXAMPLES_NAMESPACE, '-o', 'json')) as {
        items: Instance[];
      }
    ).items;
  const ready = (instance: Instance) =>
    instance.status?.conditions?.find((c) => c.type === 'Ready');
  let last = '';
  const waitStart = Date.now();
  const instances = await waitFor(
    'every instance to be Ready',
    async () => {
      const items = list();
      const line = items
        .map(
          (item) =>
            `${item.metadata.name}=${ready(item)?.status ?? '…'}${ready(item)?.status === 'True' ? '' : ` (${ready(item)?.reason ?? 'pending'})`}`,
        )
        .join('  ');
      if (line !== last) console.log(`    [${elapsed(waitStart)}] ${line}`);
      last = line;
      return items.length === INSTANCES && items.every((item) => ready(item)?.status === 'True')
        ? items
        : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 500 },
  );
  console.log(indent(kubectl('get', 'tei', '-n', EXAMPLES_NAMESPACE, '-o', 'wide')));

  step('kubectl get pods -A -o wide');
  console.log(indent(kubectl('get', 'pods', '-A', '-o', 'wide')));

  step("what each engine pod reports (GET /api/v1/health on the pod's management port)");
  const rows: Record<string, string>[] = [];
  for (const instance of instances) {
    const identity = instance.status?.identity ?? {};
    const pods = (
      JSON.parse(
        kubectl(
          'get',
          'pods',
          '-n',
          EXAMPLES_NAMESPACE,
          '-l',
          `trading.tse.io/instance=${instance.metadata.name}`,
          '-o',
          'json',
        ),
      ) as { items: Pod[] }
    ).items;
    for (const pod of pods) {
      const health = (await fetch(
        `http://${pod.status.podIP}:${ENGINE_PORTS.management}/api/v1/health`,
        {
          signal: AbortSignal.timeout(5000),
        },
      ).then(
        (response) => response.json(),
        (error: Error) => ({ status: `unreachable: ${error.message}` }),
      )) as Record<string, string>;
      rows.push({
        NAME: instance.metadata.name,
        POD: pod.metadata.name,
        NODE: pod.spec.nodeName ?? '',
        ROLE: `${pod.metadata.labels?.['trading.tse.io/role'] ?? ''}/${health.role ?? ''}`,
        'DERIVED (operator)': `${identity.instanceName} / ${identity.postgresSchema} / ${identity.redisNamespace}`,
        'REPORTED (pod)': `${health.instance} / ${health.postgres_schema} / ${health.redis_namespace}`,
        STATUS: String(health.status),
      });
    }
  }
  step(`the result (${elapsed(begin)} from start)`);
  console.log(table(rows));
  const right =
    instances.length === INSTANCES &&
    rows.every(
      (row) =>
        row.STATUS === 'healthy' &&
        row.NODE === node.name &&
        row['DERIVED (operator)'] === row['REPORTED (pod)'] &&
        (row.ROLE === 'active/active' || row.ROLE === 'standby/standby'),
    ) &&
    instances.every((instance) =>
      rows.some((row) => row.NAME === instance.metadata.name && row.ROLE === 'active/active'),
    );
  console.log(
    right
      ? '\nevery instance is Ready on the real node; each engine pod reports the identity the operator derived, one active per instance'
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
