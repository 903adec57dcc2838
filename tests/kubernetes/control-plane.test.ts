import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
  Watch,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeVersion } from '../cluster/binaries.ts';
import { waitFor } from '../support/processes.ts';

const kc = new KubeConfig();
const namespace = `cp-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  kc.loadFromFile(inject('kubeconfig'));
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
});

describe('the local control plane', () => {
  it('reports the real Kubernetes version on /version', () => {
    const version = JSON.parse(
      execFileSync(
        inject('kubectl'),
        ['--kubeconfig', inject('kubeconfig'), 'get', '--raw', '/version'],
        { encoding: 'utf8' },
      ),
    );
    expect(version.gitVersion).toBe(kubeVersion());
    expect(version.gitVersion).not.toMatch(/v0\.0\.0|master/);
  });

  it('serves a new CRD, and watches see its objects change', async () => {
    const group = `${namespace}.example.test`;
    await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    const custom = kc.makeApiClient(CustomObjectsApi);
    const base = { group, version: 'v1', namespace, plural: 'widgets' };
    await waitFor(
      'the CRD to be served',
      async () =>
        await custom.listNamespacedCustomObject(base).then(
          () => true,
          () => undefined,
        ),
    );

    const seen: string[] = [];
    const watching = await new Watch(kc).watch(
      `/apis/${group}/v1/namespaces/${namespace}/widgets`,
      {},
      (type, object) => seen.push(`${type}:${object.spec?.size}`),
      () => {},
    );
    try {
      await custom.createNamespacedCustomObject({
        ...base,
        body: {
          apiVersion: `${group}/v1`,
          kind: 'Widget',
          metadata: { name: 'w' },
          spec: { size: 1 },
        },
      });
      await custom.patchNamespacedCustomObject({
        ...base,
        name: 'w',
        body: [{ op: 'replace', path: '/spec/size', value: 2 }],
      });
      await waitFor('the watch to see both events', async () =>
        seen.length >= 2 ? true : undefined,
      );
      expect(seen).toEqual(['ADDED:1', 'MODIFIED:2']);
    } finally {
      watching.abort();
    }
  });

  it('runs a Deployment until it is Available with its Pods Ready on KWOK nodes', async () => {
    expect(inject('clusterFull')).toBe(true);
    const apps = kc.makeApiClient(AppsV1Api);
    const labels = { app: 'web' };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'web', image: 'example.test/web:1' }] },
          },
        },
      },
    });
    const available = await waitFor(
      'the Deployment to be Available',
      async () => {
        const deployment: V1Deployment = await apps.readNamespacedDeployment({
          namespace,
          name: 'web',
        });
        const condition = deployment.status?.conditions?.find((c) => c.type === 'Available');
        return condition?.status === 'True' && deployment.status?.readyReplicas === 2
          ? deployment
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(available.status?.availableReplicas).toBe(2);

    const pods = await kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace, labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });
});
