import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Guarded, spawnGuarded, waitFor } from '../../support/processes.ts';
import { apiRequest } from '../api.ts';
import type { Binaries } from '../binaries.ts';
import { kubeconfig, type Pki, REAL_NODE_NAME } from '../pki.ts';
import { cleanupNode, type NodeLeftovers } from './cleanup.ts';
import { cniConfig, containerdConfig, containerdSocket } from './containerd.ts';
import { kubeProxyConfig } from './kube-proxy.ts';
import { kubeletConfig } from './kubelet.ts';
import { inNodeNetwork, type NodeNetwork } from './network.ts';
import { SANDBOX_IMAGE, sandboxImageArchive } from './sandbox-image.ts';
import { run, tryRun } from './shell.ts';

/** A kubelet + containerd node that runs real containers, joined to a local control plane. */
export interface RealNode {
  name: string;
  network: NodeNetwork;
  /** How to reach the node's containerd with `ctr` (images live in its `k8s.io` namespace). */
  containerd: { ctr: string; socket: string };
  /** Loads an image archive (docker or OCI) into the node's containerd, unless it holds it already. */
  loadImage(archive: string, ref: string): void;
  stop(): Promise<void>;
}

/** The label and taint the real node and the fake nodes are told apart by. */
export const NODE_KIND_LABEL = 'tse.io/node-kind';

const watchdogScript = fileURLToPath(new URL('./watchdog.ts', import.meta.url));

/** Where a node's images stay between runs (one containerd root per network slot). */
function containerdRoot(network: NodeNetwork): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'tse', 'node', network.namespace, 'containerd');
}

/** Where a node keeps things, from its network slot and the cluster's directory. */
function nodeLayout(network: NodeNetwork, clusterDir: string) {
  const dir = join(clusterDir, 'node');
  const paths = {
    root: containerdRoot(network),
    state: join(dir, 'containerd'),
    cniConfig: join(dir, 'cni'),
  };
  return {
    dir,
    paths,
    kubeletDir: join(dir, 'kubelet'),
    socket: containerdSocket(paths),
    cgroupRoot: `/${network.namespace}`,
  };
}

/** What the node may leave behind; `remove` are the directories to delete afterwards. */
function leftoversOf(network: NodeNetwork, clusterDir: string, remove: string[]): NodeLeftovers {
  const layout = nodeLayout(network, clusterDir);
  return {
    namespace: network.namespace,
    cgroupRoot: layout.cgroupRoot,
    containerdSocket: layout.socket,
    mountDirs: [layout.dir, layout.paths.root],
    remove,
  };
}

/**
 * Starts the watchdog that removes a node's leftovers (and the whole cluster
 * directory, which the servers' own clean-up cannot remove while mounts are
 * in it) if this process dies. Start it as soon as the node's network exists.
 */
export function guardNode(network: NodeNetwork, clusterDir: string): { release(): void } {
  const watchdog = spawn(
    process.execPath,
    [
      watchdogScript,
      String(process.pid),
      JSON.stringify(leftoversOf(network, clusterDir, [clusterDir])),
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  return { release: () => watchdog.kill('SIGTERM') };
}

/**
 * Starts containerd, kubelet and kube-proxy in the node's network namespace
 * and waits until the node is Ready. `server` is the API server as the node
 * reaches it; `guard` (see `guardNode`) is released once the node has stopped
 * and cleaned up after itself.
 */
export async function startRealNode(options: {
  binaries: Required<Pick<Binaries, 'kubelet' | 'kubeProxy' | 'containerd' | 'ctr'>>;
  binDir: string;
  network: NodeNetwork;
  dir: string;
  guard: { release(): void };
  pki: Pki;
  server: string;
  clusterCidr: string;
  log: (line: string) => void;
}): Promise<RealNode> {
  const { binaries, network, pki, log } = options;
  const { dir, paths, kubeletDir, socket, cgroupRoot } = nodeLayout(network, options.dir);
  const { root } = paths;
  for (const path of [dir, paths.state, kubeletDir, paths.cniConfig, root])
    mkdirSync(path, { recursive: true });
  // A clean stop removes the node's own directory; the cluster's is the control plane's.
  const leftovers = leftoversOf(network, options.dir, [dir]);

  const started: Guarded[] = [];
  const env = { ...process.env, PATH: `${options.binDir}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const inNode = inNodeNetwork(network);
  const spawnInNode = (name: string, command: string, args: string[]) => {
    const [nsenter, ...prefix] = inNode as [string, ...string[]];
    const process = spawnGuarded(name, nsenter, [...prefix, command, ...args], { env });
    started.push(process);
    return process;
  };
  const ctr = (...args: string[]) =>
    run(binaries.ctr, ['--address', socket, '--namespace', 'k8s.io', ...args]);
  const held = new Set<string>();

  const stop = async () => {
    // Pods first, while kubelet runs, so it tears their sandboxes and volumes down itself.
    await deletePodsOnNode(options.server, pki).catch(() => {});
    await waitForNoContainers(() => ctr('tasks', 'ls', '-q')).catch(() => {});
    for (const process of started.reverse()) await process.stop();
    for (const line of cleanupNode(leftovers)) log(`real node: ${line}`);
    options.guard.release();
  };

  try {
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(paths, SANDBOX_IMAGE));
    writeFileSync(
      join(paths.cniConfig, '10-tse-pods.conflist'),
      cniConfig(network.podCidr, join(dir, 'cni-ipam')),
    );
    const containerd = spawnInNode('containerd', binaries.containerd, [
      '--config',
      join(dir, 'containerd.toml'),
    ]);
    await waitFor(
      'containerd to serve',
      async () => (tryRun(binaries.ctr, ['--address', socket, 'version']).ok ? true : undefined),
      {
        process: containerd,
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    for (const line of ctr('images', 'ls', '-q').split('\n')) if (line) held.add(line);
    const loadImage = (archive: string, ref: string) => {
      const { size, mtimeMs } = statSync(archive);
      const marker = `${archive}:${size}:${mtimeMs}`;
      if (held.has(ref) && imported(root, ref) === marker) return;
      ctr('images', 'import', archive);
      held.add(ref);
      writeImported(root, ref, marker);
    };
    loadImage(sandboxImageArchive(join(root, '..', '..', 'images')), SANDBOX_IMAGE);

    const kubeletConfigPath = join(dir, 'kubelet.json');
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, `nameserver ${network.hostIp}\noptions ndots:1\n`);
    writeFileSync(
      kubeletConfigPath,
      kubeletConfig({
        nodeIp: network.nodeIp,
        clientCaFile: pki.caCert,
        containerdSocket: socket,
        resolvConf,
        cgroupRoot,
      }),
    );
    const nodeKubeconfig = join(dir, 'kubelet.kubeconfig');
    writeFileSync(
      nodeKubeconfig,
      kubeconfig(options.server, pki.caCert, pki.clients.node, 'kubelet'),
    );
    createCgroups(cgroupRoot);
    spawnInNode('kubelet', binaries.kubelet, [
      `--config=${kubeletConfigPath}`,
      `--kubeconfig=${nodeKubeconfig}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-ip=${network.nodeIp}`,
      `--root-dir=${kubeletDir}`,
      `--cert-dir=${join(dir, 'kubelet-pki')}`,
      `--node-labels=${NODE_KIND_LABEL}=real`,
      '--v=0',
    ]);
    const proxyKubeconfig = join(dir, 'kube-proxy.kubeconfig');
    writeFileSync(
      proxyKubeconfig,
      kubeconfig(options.server, pki.caCert, pki.clients.kubeProxy, 'kube-proxy'),
    );
    const proxyConfig = join(dir, 'kube-proxy.json');
    writeFileSync(
      proxyConfig,
      kubeProxyConfig({
        kubeconfig: proxyKubeconfig,
        nodeName: REAL_NODE_NAME,
        clusterCidr: options.clusterCidr,
      }),
    );
    spawnInNode('kube-proxy', binaries.kubeProxy, [`--config=${proxyConfig}`, '--v=0']);
    return {
      name: REAL_NODE_NAME,
      network,
      containerd: { ctr: binaries.ctr, socket },
      loadImage,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** What was last imported under `ref`, so a warm start skips the import. */
function imported(root: string, ref: string): string | undefined {
  const file = join(root, 'imported.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[ref];
}

function writeImported(root: string, ref: string, marker: string): void {
  const file = join(root, 'imported.json');
  const all = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)
    : {};
  writeFileSync(file, JSON.stringify({ ...all, [ref]: marker }, null, 2));
}

/** kubelet expects its cgroup root to exist in every hierarchy. */
function createCgroups(root: string): void {
  const base = '/sys/fs/cgroup';
  for (const hierarchy of ['', ...readdirNames(base)]) {
    const dir = join(base, hierarchy);
    if (existsSync(join(dir, 'cgroup.procs'))) mkdirSync(join(dir, root), { recursive: true });
  }
}

function readdirNames(dir: string): string[] {
  return existsSync(dir) ? run('ls', [dir]).split('\n').filter(Boolean) : [];
}

/** Deletes every pod bound to the real node and waits (briefly) for kubelet to stop them. */
async function deletePodsOnNode(server: string, pki: Pki): Promise<void> {
  const selector = encodeURIComponent(`spec.nodeName=${REAL_NODE_NAME}`);
  const list = await apiRequest(server, pki, 'GET', `/api/v1/pods?fieldSelector=${selector}`);
  const pods = (JSON.parse(list.body).items ?? []) as {
    metadata: { namespace: string; name: string };
  }[];
  await Promise.all(
    pods.map(({ metadata }) =>
      apiRequest(
        server,
        pki,
        'DELETE',
        `/api/v1/namespaces/${metadata.namespace}/pods/${metadata.name}`,
        {
          gracePeriodSeconds: 2,
        },
      ),
    ),
  );
  for (let waited = 0; waited < 20_000; waited += 500) {
    const left = await apiRequest(server, pki, 'GET', `/api/v1/pods?fieldSelector=${selector}`);
    if ((JSON.parse(left.body).items ?? []).length === 0) return;
    await sleep(500);
  }
}

/** Waits (briefly) until containerd runs no container: kubelet has torn the pods down. */
async function waitForNoContainers(tasks: () => string): Promise<void> {
  for (let waited = 0; waited < 15_000; waited += 250) {
    if (tasks().trim() === '') return;
    await sleep(250);
  }
}
