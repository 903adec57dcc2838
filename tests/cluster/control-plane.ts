import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type Guarded,
  type RestartOptions,
  spawnGuarded,
  waitFor,
} from '../support/processes.ts';
import { apiGet, apiRequest } from './api.ts';
import { type Binaries, binDir, findBinaries } from './binaries.ts';
import { createNodeNetwork, destroyNodeNetwork, type NodeNetwork } from './node/network.ts';
import { guardNode, NODE_KIND_LABEL, type RealNode, startRealNode } from './node/real-node.ts';
import { createPki, kubeconfig, type Pki, REAL_NODE_NAME, SERVICE_CIDR } from './pki.ts';

/** The fake nodes' taint when a real node is present: only pods that ask for them go there. */
export const FAKE_NODE_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' };
/** Addresses of pods on fake nodes (never routed anywhere). */
const FAKE_POD_CIDR = '10.244.0.0/16';

/** A running Kubernetes API (and, when `full`, controllers, scheduler and fake nodes). */
export interface Cluster {
  /** Path of an admin kubeconfig. */
  kubeconfig: string;
  server: string;
  /** True when Deployments get Pods that become Ready (controllers, scheduler and KWOK nodes run). */
  full: boolean;
  describe: string;
  binaries?: Binaries;
  /** The real node, when one was asked for: pods there run for real. */
  node?: RealNode;
  /**
   * Stops one of the control plane's processes (etcd, kube-apiserver,
   * kube-controller-manager, kube-scheduler, kwok) and starts it again with the
   * same flags, certificates, port and data, `downMs` later; resolves once it is
   * healthy again. Local control planes only.
   */
  restart(component: string, options?: RestartOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Fake nodes to create when the cluster is full (default 3). */
  nodes?: number;
  /** Where to keep certificates, etcd data and kubeconfigs (default: a new temporary directory). */
  dir?: string;
  /** Start only etcd and kube-apiserver even when the other binaries exist. */
  apiOnly?: boolean;
  /**
   * Also start a real node (containerd, kubelet, kube-proxy in a network
   * namespace of its own). The fake nodes are then tainted, so pods land on
   * the real node unless they tolerate `FAKE_NODE_TAINT`.
   */
  realNode?: boolean;
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
      restart: async () => {
        throw new Error('an existing cluster cannot be restarted by the tests');
      },
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
  let network: NodeNetwork | undefined;
  let node: RealNode | undefined;
  let guard: { release(): void } | undefined;
  const stop = async () => {
    if (node) {
      // Nothing may recreate or schedule pods while the node drains its own.
      for (const process of started)
        if (process.name === 'kube-controller-manager' || process.name === 'kube-scheduler')
          await process.stop();
      await node.stop();
    }
    for (const process of started.reverse()) await process.stop();
    if (network) destroyNodeNetwork(network);
    rmSync(dir, { recursive: true, force: true });
    guard?.release();
  };
  try {
    const begin = Date.now();
    if (options.realNode) {
      requireNodeBinaries(binaries);
      network = createNodeNetwork();
      guard = guardNode(network, dir);
    }
    const pki = createPki(dir, network ? [network.hostIp] : []);
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

    // With a real node the API server listens on the host's end of the node's
    // link, where kubelet, kube-proxy and pods (through the `kubernetes` Service) reach it.
    const address = network?.hostIp ?? '127.0.0.1';
    const server = `https://${address}:${apiPort}`;
    const apiserver = spawnGuarded(
      'kube-apiserver',
      binaries.kubeApiserver,
      apiserverArgs(dir, pki, etcdUrl, apiPort, address, Boolean(network)),
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
      await createFakeNodes(server, pki, options.nodes ?? 3, kwok, Boolean(network));
      log(`controllers, scheduler and ${options.nodes ?? 3} KWOK nodes running`);
    }
    if (network) {
      if (!full) throw new Error('a real node needs the controllers and the scheduler');
      const nodeStarted = Date.now();
      node = await startRealNode({
        binaries: binaries as Parameters<typeof startRealNode>[0]['binaries'],
        binDir: binDir(),
        network,
        dir,
        guard: guard as { release(): void },
        pki,
        server,
        clusterCidr: network.podCidr,
        log,
      });
      await waitForNodeReady(server, pki);
      log(
        `real node ${REAL_NODE_NAME} Ready in ${((Date.now() - nodeStarted) / 1000).toFixed(1)}s (pods on ${network.podCidr}, host ${network.hostIp})`,
      );
    }
    log(`control plane up in ${((Date.now() - begin) / 1000).toFixed(1)}s`);
    const restart = async (component: string, restartOptions: RestartOptions = {}) => {
      const index = started.findIndex((process) => process.name === component);
      const old = started[index];
      if (!old) throw new Error(`no ${component} in this control plane`);
      const fresh = await old.restart(restartOptions);
      started[index] = fresh;
      if (component === 'etcd')
        await waitFor(
          'etcd to be healthy again',
          async () => ((await fetch(`${etcdUrl}/health`)).ok ? true : undefined),
          { process: fresh, timeoutMs: 60_000, intervalMs: 100 },
        );
      if (component === 'kube-apiserver')
        await waitFor(
          'kube-apiserver to be ready again',
          async () => ((await apiGet(server, pki, '/readyz')).status === 200 ? true : undefined),
          { process: fresh, timeoutMs: 90_000, intervalMs: 100 },
        );
    };
    return {
      kubeconfig: admin,
      server,
      full,
      describe: `local control plane at ${server}`,
      binaries,
      ...(node && { node }),
      restart,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function apiserverArgs(
  dir: string,
  pki: Pki,
  etcdUrl: string,
  port: number,
  address: string,
  realNode: boolean,
): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${dir}`,
    `--tls-cert-file=${pki.serving.cert}`,
    `--tls-private-key-file=${pki.serving.key}`,
    `--client-ca-file=${pki.caCert}`,
    `--secure-port=${port}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // Node + NodeRestriction: a kubelet reads and writes only what its own pods need.
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    `--kubelet-client-certificate=${pki.clients.apiserverKubelet.cert}`,
    `--kubelet-client-key=${pki.clients.apiserverKubelet.key}`,
    '--allow-privileged=true',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccount.key}`,
    // The `kubernetes` Service gets an endpoint only where pods can use it.
    `--endpoint-reconciler-type=${realNode ? 'lease' : 'none'}`,
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
    `--cidr=${FAKE_POD_CIDR}`,
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
  tainted: boolean,
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
          [NODE_KIND_LABEL]: 'fake',
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
        },
      },
      spec: tainted ? { taints: [FAKE_NODE_TAINT] } : {},
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

function requireNodeBinaries(binaries: Binaries): void {
  const missing = (['kubelet', 'kubeProxy', 'containerd', 'ctr'] as const).filter(
    (name) => !binaries[name],
  );
  if (missing.length > 0)
    throw new Error(
      `a real node needs ${missing.join(', ')} in ${binDir()}: build them with tests/cluster/bins/build.sh`,
    );
}

async function waitForNodeReady(server: string, pki: Pki): Promise<void> {
  await waitFor(
    `node ${REAL_NODE_NAME} to be Ready`,
    async () => {
      const { status, body } = await apiGet(server, pki, `/api/v1/nodes/${REAL_NODE_NAME}`);
      if (status !== 200) return undefined;
      const node = JSON.parse(body) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? true
        : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}
