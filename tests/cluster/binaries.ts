import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The control-plane programs, as paths; the optional ones make a full cluster. */
export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl?: string;
  kubeControllerManager?: string;
  kubeScheduler?: string;
  kwok?: string;
  /** KWOK's node and pod stages (a config file next to the kwok binary). */
  kwokStages?: string;
  helm?: string;
  /** The real node's programs. */
  kubelet?: string;
  kubeProxy?: string;
  containerd?: string;
  ctr?: string;
}

const buildScript = fileURLToPath(new URL('./bins/build.sh', import.meta.url));

/** The Kubernetes version the binaries are built at, from the bins module. */
export function kubeVersion(): string {
  const goMod = readFileSync(fileURLToPath(new URL('./bins/go.mod', import.meta.url)), 'utf8');
  const match =
    /^\s*require k8s\.io\/kubernetes (v\S+)/m.exec(goMod) ??
    /k8s\.io\/kubernetes (v\S+)/.exec(goMod);
  if (!match?.[1])
    throw new Error('tests/cluster/bins/go.mod does not name a k8s.io/kubernetes version');
  return match[1];
}

/** A program build.sh builds into the cache, or an error that says how to get it. */
export function cachedBinary(name: string): string {
  const path = join(binDir(), name);
  if (!existsSync(path)) throw new Error(`no ${name} in ${binDir()}: build it with ${buildScript}`);
  return path;
}

/** The ecosystem tools the tests run besides the control plane, all built by build.sh. */
export const TOOLS = [
  'helm',
  'promtool',
  'prometheus',
  'registry',
  'grpcurl',
  'prometheus-operator-crds.yaml',
] as const;

/** The tools missing from the cache, as one clause for a preflight line (empty when none). */
export function missingTools(): string {
  const missing = TOOLS.filter((name) => !existsSync(join(binDir(), name)));
  return missing.length > 0
    ? `${missing.join(', ')} in ${binDir()}: build them with ${buildScript}`
    : '';
}

/** Where build.sh puts the binaries (TSE_K8S_BIN_DIR overrides). */
export function binDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return process.env.TSE_K8S_BIN_DIR ?? join(cache, 'tse', 'k8s-bins', kubeVersion());
}

/**
 * Finds the binaries: envtest's assets when KUBEBUILDER_ASSETS is set (with
 * the built controllers added when present), else the build cache.
 */
export function findBinaries(): Binaries {
  const cache = binDir();
  const inCache = (name: string) => (existsSync(join(cache, name)) ? join(cache, name) : undefined);
  const assets = process.env.KUBEBUILDER_ASSETS;
  const from = (dir: string | undefined, name: string) =>
    dir && existsSync(join(dir, name)) ? join(dir, name) : undefined;
  const etcd = from(assets, 'etcd') ?? inCache('etcd');
  const kubeApiserver = from(assets, 'kube-apiserver') ?? inCache('kube-apiserver');
  if (!etcd || !kubeApiserver) {
    throw new Error(
      `no etcd/kube-apiserver in ${assets ? `KUBEBUILDER_ASSETS (${assets}) or ` : ''}${cache}: build them with ${buildScript}, ` +
        'set KUBEBUILDER_ASSETS to envtest assets, or use an existing cluster (USE_EXISTING_CLUSTER=true with KUBECONFIG)',
    );
  }
  const optional = (name: string) => from(assets, name) ?? inCache(name);
  const binaries: Binaries = { etcd, kubeApiserver };
  const more = {
    kubectl: optional('kubectl'),
    kubeControllerManager: optional('kube-controller-manager'),
    kubeScheduler: optional('kube-scheduler'),
    kwok: optional('kwok'),
    kwokStages: optional('kwok-stages.yaml'),
    helm: optional('helm'),
    kubelet: optional('kubelet'),
    kubeProxy: optional('kube-proxy'),
    containerd: optional('containerd'),
    ctr: optional('ctr'),
  };
  for (const [name, path] of Object.entries(more))
    if (path) binaries[name as keyof Binaries] = path;
  return binaries;
}
