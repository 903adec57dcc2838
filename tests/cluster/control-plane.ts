import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type Guarded, spawnGuarded, waitFor } from '../support/processes.ts';
import { type Binaries, findBinaries } from './binaries.ts';
import { createPki, kubeconfig, type Pki } from './pki.ts';

/** A running Kubernetes API (and, when `full`, controllers, scheduler and fake nodes). */
export interface Cluster {
  /** Path of an admin kubeconfig. */
  kubeconfig: string;
  server: string;
  /** True when Deployments get Pods that become Ready (controllers, scheduler and KWOK nodes run). */
  full: boolean;
  describe: string;
  binaries?: Binaries;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Fake nodes to create when the cluster is full (default 3). */
  nodes?: number;
  /** Where to keep certificates, etcd data and kubeconfigs (default: a new temporary directory). */
  dir?: string;
  /** Start only etcd and kube-apiserver even when the other binaries exist. */
  apiOnly?: boolean;
  log?: (line: string) => void;
}

/**
 * A cluster for tests and the demo: an existing one (USE_EXISTING_CLUSTER=true
 * with KUBECONFIG), or a local control plane on loopback ports from the built
 * binaries or envtest's assets.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (process.env.USE_EXISTING_CLUSTER === 'true') {
    const path = process.env.KUBECONFIG;
    if (!path) throw new Error('USE_EXISTING_CLUSTER=true needs KUBECONFIG to name the cluster');
    return {
      kubeconfig: path,
      server: '',
      full: true,
      describe: `existing cluster from ${path}`,
      stop: async () => {},
    };
  }
  return startLocalControlPlane(findBinaries(), options);
}

async function startLocalControlPlane(
  binaries: Binaries,
  options: ClusterOptions,
): Promise<Cluster> {
  const log = options.log ?? (() => {});
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tse-cluster-'));
  mkdirSync(dir, { recursive: true });
  const started: Guarded[] = [];
  const stop = async () => {
    for (const process of started.reverse()) await process.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const begin = Date.now();
    const pki = createPki(dir);
    const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = spawnGuarded(
      'etcd',
      binaries.etcd,
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync=true',
        '--watch-progress-notify-interval=5s',
        '--quota-backend-bytes=8589934592',
        '--log-level=warn',
      ],
      { cleanup: [dir] },
    );
    started.push(etcd);
    await waitFor(
      'etcd to be healthy',
      async () => ((await fetch(`${etcdUrl}/health`)).ok ? true : undefined),
      { process: etcd },
    );
    log(`etcd ready on ${etcdUrl}`);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = spawnGuarded(
      'kube-apiserver',
      binaries.kubeApiserver,
      apiserverArgs(dir, pki, etcdUrl, apiPort),
    );
    started.push(apiserver);
    const admin = join(dir, 'admin.kubeconfig');
    writeFileSync(admin, kubeconfig(server, pki.caCert, pki.clients.admin));
    await waitFor(
      'kube-apiserver to be ready',
      async () => ((await apiGet(server, pki, '/readyz')).status === 200 ? true : undefined),
      {
        process: apiserver,
        timeoutMs: 90_000,
        intervalMs: 250,
      },
    );
    log(`kube-apiserver ready on ${server}`);

    const full =
      !options.apiOnly &&
      Boolean(
        binaries.kubeControllerManager &&
          binaries.kubeScheduler &&
          binaries.kwok &&
          binaries.kwokStages,
      );
    if (full) {
      const kwok = await startNodeComponents(binaries, dir, pki, server, started);
      await createFakeNodes(server, pki, options.nodes ?? 3, kwok);
      log(`controllers, scheduler and ${options.nodes ?? 3} KWOK nodes running`);
    }
    log(`control plane up in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
    return {
      kubeconfig: admin,
      server,
      full,
      describe: `local control plane at ${server}`,
      binaries,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function apiserverArgs(dir: string, pki: Pki, etcdUrl: string, port: number): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${dir}`,
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.caCert}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=RBAC',
    '--allow-privileged=true',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccount.key}`,
    '--endpoint-reconciler-type=none',
    '--enable-priority-and-fairness=false',
    '--max-requests-inflight=0',
    '--max-mutating-requests-inflight=0',
    '--profiling=false',
    '--v=0',
  ];
}

async function startNodeComponents(
  binaries: Binaries,
  dir: string,
  pki: Pki,
  server: string,
  started: Guarded[],
): Promise<Guarded> {
  const config = (name: string, client: { cert: string; key: string }) => {
    const path = join(dir, `${name}.kubeconfig`);
    writeFileSync(path, kubeconfig(server, pki.caCert, client, name));
    return path;
  };
  const kcm = config('controller-manager', pki.clients.controllerManager);
  const scheduler = config('scheduler', pki.clients.scheduler);
  const admin = join(dir, 'admin.kubeconfig');
  const [kcmPort, schedulerPort, kwokPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
  ]);

  started.push(
    spawnGuarded('kube-controller-manager', binaries.kubeControllerManager as string, [
      `--kubeconfig=${kcm}`,
      `--authentication-kubeconfig=${kcm}`,
      `--authorization-kubeconfig=${kcm}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--root-ca-file=${pki.caCert}`,
      `--service-account-private-key-file=${pki.serviceAccount.key}`,
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--kube-api-qps=500',
      '--kube-api-burst=1000',
      '--concurrent-deployment-syncs=20',
      '--concurrent-replicaset-syncs=20',
      '--controllers=*,-nodeipam,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ttl,-bootstrapsigner,-tokencleaner',
      '--v=0',
    ]),
    spawnGuarded('kube-scheduler', binaries.kubeScheduler as string, [
      `--kubeconfig=${scheduler}`,
      `--authentication-kubeconfig=${scheduler}`,
      `--authorization-kubeconfig=${scheduler}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      '--leader-elect=false',
      '--kube-api-qps=500',
      '--kube-api-burst=1000',
      '--v=0',
    ]),
  );
  const kwok = spawnGuarded('kwok', binaries.kwok as string, [
    `--kubeconfig=${admin}`,
    `--config=${binaries.kwokStages}`,
    '--manage-all-nodes=false',
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    '--cidr=10.244.0.0/16',
    '--node-ip=127.0.0.1',
    // KWOK renews each node's Lease: without it the node lifecycle controller marks the nodes (and pods) NotReady.
    '--node-lease-duration-seconds=40',
    `--server-address=127.0.0.1:${kwokPort}`,
  ]);
  started.push(kwok);
  return kwok;
}

async function createFakeNodes(
  server: string,
  pki: Pki,
  count: number,
  kwok: Guarded,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = `kwok-node-${i}`;
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          type: 'kwok',
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
        },
      },
      status: {
        allocatable: { cpu: '64', memory: '512Gi', pods: '1000' },
        capacity: { cpu: '64', memory: '512Gi', pods: '1000' },
      },
    };
    const response = await apiRequest(server, pki, 'POST', '/api/v1/nodes', node);
    if (response.status !== 201 && response.status !== 409)
      throw new Error(`creating node ${name}: ${response.status} ${response.body}`);
  }
  await waitFor(
    `${count} KWOK nodes to be Ready`,
    async () => {
      const { body } = await apiGet(server, pki, '/api/v1/nodes?labelSelector=type%3Dkwok');
      const nodes = JSON.parse(body).items as {
        status?: { conditions?: { type: string; status: string }[] };
      }[];
      const ready = nodes.filter((node) =>
        node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length >= count ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, process: kwok },
  );
}

/** A GET against the API server as the admin. */
export function apiGet(
  server: string,
  pki: Pki,
  path: string,
): Promise<{ status: number; body: string }> {
  return apiRequest(server, pki, 'GET', path);
}

function apiRequest(
  server: string,
  pki: Pki,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const { promise, resolve, reject } = Promise.withResolvers<{ status: number; body: string }>();
  const req = request(
    new URL(path, server),
    {
      method,
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.clients.admin.cert),
      key: readFileSync(pki.clients.admin.key),
      headers: body ? { 'content-type': 'application/json' } : {},
      timeout: 5000,
    },
    (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    },
  );
  req.on('error', reject);
  req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
  req.end(body ? JSON.stringify(body) : undefined);
  return promise;
}
