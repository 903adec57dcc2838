import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';
import { provisionedOnFakeNodes } from './converged.ts';
import { waitFor } from './processes.ts';

const CRD_FILE = fileURLToPath(
  new URL('../../crds/tradingengineinstances.trading.tse.io.yaml', import.meta.url),
);
export const TEI = {
  group: 'trading.tse.io',
  version: 'v1alpha1',
  plural: 'tradingengineinstances',
} as const;

/** Typed clients for a kubeconfig. */
export function kube(kubeconfig: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    kubeconfig,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}
export type Kube = ReturnType<typeof kube>;

/**
 * `kubectl apply --server-side` of YAML (or JSON) text, as a user would; throws
 * with kubectl's message when the API server refuses it. (The client library's
 * generic patch re-serialises known kinds through its typed models, which drops
 * fields such as `enum` and `x-kubernetes-validations` from a raw CRD.)
 */
export async function applyYaml(k: Kube, yaml: string, fieldManager = 'tests'): Promise<void> {
  const result = spawnSync(
    inject('kubectl'),
    [
      '--kubeconfig',
      k.kubeconfig,
      'apply',
      '--server-side',
      '--force-conflicts',
      `--field-manager=${fieldManager}`,
      '-f',
      '-',
    ],
    { input: yaml, encoding: 'utf8' },
  );
  if (result.status !== 0)
    throw new Error(result.stderr.trim() || `kubectl apply exited with ${result.status}`);
}

/** Installs the TradingEngineInstance CRD from crds/ and waits until it is served. */
export async function installCrd(k: Kube): Promise<void> {
  await applyYaml(k, readFileSync(CRD_FILE, 'utf8'));
  await waitFor('the CRD to be served', async () =>
    k.custom.listClusterCustomObject({ ...TEI }).then(
      () => true,
      () => undefined,
    ),
  );
}

/**
 * The Prometheus Operator's own ServiceMonitor and PrometheusRule CRDs, from
 * its Go module (tests/cluster/bins/build.sh puts them in the binary cache),
 * so what the operator and the chart write is checked against the real schemas.
 */
export async function installServiceMonitorCrd(k: Kube): Promise<void> {
  await applyYaml(k, readFileSync(cachedBinary('prometheus-operator-crds.yaml'), 'utf8'));
  await waitFor('the ServiceMonitor CRD to be served', async () =>
    k.custom
      .listClusterCustomObject({
        group: 'monitoring.coreos.com',
        version: 'v1',
        plural: 'servicemonitors',
      })
      .then(
        () => true,
        () => undefined,
      ),
  );
}

/** A TradingEngineInstance manifest. */
export function teiManifest(namespace: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'trading.tse.io/v1alpha1',
    kind: 'TradingEngineInstance',
    metadata: { name, namespace },
    spec,
  };
}

export type Instance = {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    finalizers?: string[];
  };
  spec: Record<string, unknown>;
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string }[];
    identity?: Record<string, string>;
    observedGeneration?: number;
  };
};

export async function getInstance(k: Kube, namespace: string, name: string): Promise<Instance> {
  return (await k.custom.getNamespacedCustomObject({ ...TEI, namespace, name })) as Instance;
}

export function condition(instance: Instance, type: string) {
  return instance.status?.conditions?.find((c) => c.type === type);
}

/**
 * Waits until an instance, as last written by the operator (observedGeneration
 * current), satisfies `wanted`; the error shows its last status.
 */
async function waitForInstance(
  k: Kube,
  namespace: string,
  name: string,
  what: string,
  wanted: (instance: Instance) => boolean,
  timeoutMs: number,
): Promise<Instance> {
  let last: Instance | undefined;
  try {
    return await waitFor(
      `${namespace}/${name} ${what}`,
      async () => {
        last = await getInstance(k, namespace, name);
        return last.status?.observedGeneration === last.metadata.generation && wanted(last)
          ? last
          : undefined;
      },
      { timeoutMs, intervalMs: 200 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\nlast status: ${JSON.stringify(last?.status)}`);
  }
}

/** Waits until an instance's condition has the status (and reason, if given). */
export function waitForCondition(
  k: Kube,
  namespace: string,
  name: string,
  type: string,
  status: string,
  { reason, timeoutMs = 60_000 }: { reason?: string; timeoutMs?: number } = {},
): Promise<Instance> {
  return waitForInstance(
    k,
    namespace,
    name,
    `${type}=${status}${reason ? ` (${reason})` : ''}`,
    (instance) => {
      const found = condition(instance, type);
      return found?.status === status && (!reason || found.reason === reason);
    },
    timeoutMs,
  );
}

/**
 * Waits until the operator has done everything it does for an instance on
 * fake (KWOK) nodes: stores provisioned and verified, every engine pod
 * Ready. No engine runs there, so none holds the instance's lock: Available
 * (and so Ready) stay False with `NoActiveEngine`; the real-node tests see
 * them True.
 */
export function waitForProvisioned(
  k: Kube,
  namespace: string,
  name: string,
  { timeoutMs = 60_000 }: { timeoutMs?: number } = {},
): Promise<Instance> {
  return waitForInstance(
    k,
    namespace,
    name,
    'to be provisioned with its pods ready',
    (instance) => provisionedOnFakeNodes(instance.status?.conditions),
    timeoutMs,
  );
}
