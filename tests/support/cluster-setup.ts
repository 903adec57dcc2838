import type { TestProject } from 'vitest/node';
import { startCluster } from '../cluster/control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    clusterFull: boolean;
    kubectl: string;
  }
}

/** Starts the Kubernetes control plane once for the tests that need it, and stops it after. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const cluster = await startCluster();
  console.log(
    `kubernetes: ${cluster.describe}, ready in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  project.provide('kubeconfig', cluster.kubeconfig);
  project.provide('clusterFull', cluster.full);
  project.provide('kubectl', cluster.binaries?.kubectl ?? 'kubectl');
  return () => cluster.stop();
}
