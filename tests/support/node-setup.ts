import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startCluster } from '../cluster/control-plane.ts';
import { loadBuiltImages } from '../cluster/node/images.ts';
import { startClusterStores } from '../cluster/stores.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    helm: string;
    /** The image references `npm run images` built and the node holds. */
    images: { engine: string; operator: string };
    /** The stores' admin URLs as pods reach them, and as this process does. */
    stores: { postgres: string; redis: string; postgresHost: string; redisHost: string };
    /** The real node's network namespace: where Service addresses answer. */
    nodeNetns: string;
    nodeName: string;
    /** The node's containerd, for `ctr` (images in the k8s.io namespace). */
    nodeCtr: { binary: string; socket: string };
  }
}

const imagesCli = fileURLToPath(new URL('../images/cli.ts', import.meta.url));

/**
 * For the tests that run pods for real: builds the product images (cached),
 * starts the control plane with a real node and the stores its pods reach,
 * and loads the images onto the node.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const begin = Date.now();
  const built = spawnSync(process.execPath, [imagesCli], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run images failed:\n${built.stdout}${built.stderr}`);
  const images = JSON.parse(built.stdout.trim().split('\n').at(-1) ?? '{}') as {
    engine: string;
    operator: string;
  };
  const cluster = await startCluster({
    realNode: true,
    log: (line) => console.log(`cluster: ${line}`),
  });
  const node = cluster.node;
  if (!node) throw new Error('no real node started');
  try {
    const stores = await startClusterStores(node.network);
    const stop = async () => {
      await cluster.stop();
      await Promise.allSettled([stores.postgres.stop(), stores.redis.stop()]);
    };
    loadBuiltImages(node);
    console.log(
      `real node ${node.name} with ${images.engine} and ${images.operator}, ready in ${((Date.now() - begin) / 1000).toFixed(1)}s`,
    );
    project.provide('kubeconfig', cluster.kubeconfig);
    project.provide('kubectl', cluster.binaries?.kubectl ?? 'kubectl');
    project.provide('helm', cluster.binaries?.helm ?? 'helm');
    project.provide('images', images);
    project.provide('stores', {
      postgres: stores.postgres.inClusterUrl,
      redis: stores.redis.inClusterUrl,
      postgresHost: stores.postgres.url,
      redisHost: stores.redis.url,
    });
    project.provide('nodeNetns', node.network.namespace);
    project.provide('nodeName', node.name);
    project.provide('nodeCtr', { binary: node.containerd.ctr, socket: node.containerd.socket });
    return stop;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
