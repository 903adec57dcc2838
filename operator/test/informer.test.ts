import type { KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { changedBeyondRevision, type KubeApi, WatchedKind } from '../src/runtime/informer.ts';
import { withoutManagedFields } from '../src/runtime/kube.ts';
import {
  KubeApiError,
  type RequestOptions,
  type WatchOptions,
} from '../src/runtime/kube-client.ts';
import {
  deploymentProjection,
  podDisruptionBudgetProjection,
  podProjection,
  SOURCES,
} from '../src/runtime/sources.ts';

// The reflector's own decisions (paging, 410, ERROR events, stopping) against a
// scripted API; the real API server is exercised by the kubernetes suites.
const object = (name: string, resourceVersion: string): KubernetesObject => ({
  metadata: { name, namespace: 'n', resourceVersion },
});

interface Script {
  lists: ((options: RequestOptions) => Promise<unknown>)[];
  watches: ((options: WatchOptions) => Promise<void>)[];
}

function scripted(script: Script) {
  const calls = { lists: [] as RequestOptions[], watches: [] as WatchOptions[] };
  const api: KubeApi = {
    request: async <T>(_method: string, _path: string, options: RequestOptions = {}) => {
      calls.lists.push(options);
      const next = script.lists.shift();
      if (!next) return new Promise<T>(() => {});
      return (await next(options)) as T;
    },
    watch: (_path, options) => {
      calls.watches.push(options);
      const next = script.watches.shift();
      return next ? next(options) : new Promise<void>(() => {});
    },
  };
  return { api, calls };
}

const log = pino({ level: 'silent' });
const source = { apiVersion: 'v1', kind: 'Secret', project: withoutManagedFields };
const fast = { initialMs: 10, capMs: 20, jitter: 0 };

function cacheOf(api: KubeApi) {
  const cache = new WatchedKind(api, source, { namespaces: ['n'], log, backoff: fast });
  const events: string[] = [];
  cache.on((event, o) => events.push(`${event} ${o.metadata?.name}`));
  return { cache, events };
}

const page = (items: KubernetesObject[], resourceVersion: string, next?: string) => ({
  metadata: { resourceVersion, ...(next ? { continue: next } : {}) },
  items,
});

describe('WatchedKind', () => {
  it('lists in pages, and lists again in one page when a continue token has expired', async () => {
    const { api, calls } = scripted({
      lists: [
        async () => page([object('a', '1')], '10', 'token'),
        async () => {
          throw new KubeApiError(410, { code: 410 }, 'GET');
        },
        async () => page([object('a', '1'), object('b', '2')], '11'),
      ],
      watches: [],
    });
    const { cache, events } = cacheOf(api);
    await cache.start();
    expect(calls.lists.map((o) => o.query)).toEqual([
      { labelSelector: undefined, limit: 500, continue: undefined },
      { labelSelector: undefined, limit: 500, continue: 'token' },
      { labelSelector: undefined, limit: undefined, continue: undefined },
    ]);
    expect(events).toEqual(['add a', 'add b']);
    await vi.waitFor(() => expect(calls.watches[0]?.query.resourceVersion).toBe('11'));
    await cache.stop();
  });

  it('hands an update the object it replaces, from a watch and from a relist', async () => {
    const { api, calls } = scripted({
      lists: [
        async () => page([object('a', '1'), object('b', '2')], '10'),
        async () => page([object('a', '3'), object('b', '2')], '20'),
      ],
      watches: [
        async (options) => {
          options.established();
          options.onEvent('MODIFIED', object('b', '11'));
          options.onEvent('ERROR', { kind: 'Status', code: 410 });
        },
      ],
    });
    const cache = new WatchedKind(api, source, { namespaces: ['n'], log, backoff: fast });
    const updates: string[] = [];
    cache.on((event, o, previous) => {
      if (event === 'update')
        updates.push(
          `${o.metadata?.name} ${previous?.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`,
        );
    });
    await cache.start();
    await vi.waitFor(() => expect(calls.lists).toHaveLength(2));
    // b changed by the watch (2 -> 11) and back by the relist (11 -> 2); a by the relist.
    await vi.waitFor(() => expect(updates).toEqual(['b 2->11', 'a 1->3', 'b 11->2']));
    await cache.stop();
  });

  it('keeps an object met in a LIST and on the watch alike, so only a new revision is no change', async () => {
    const { api } = scripted({
      lists: [async () => page([object('a', '1')], '10')],
      watches: [
        async (options) => {
          options.established();
          // A watch event carries its kind first; a LIST's items carry none.
          options.onEvent('MODIFIED', { apiVersion: 'v1', kind: 'Secret', ...object('a', '2') });
        },
      ],
    });
    const cache = new WatchedKind(api, source, { namespaces: ['n'], log, backoff: fast });
    const changed: boolean[] = [];
    cache.on((event, o, previous) => {
      if (event === 'update' && previous) changed.push(changedBeyondRevision(previous, o));
    });
    await cache.start();
    await vi.waitFor(() => expect(changed).toEqual([false]));
    await cache.stop();
  });

  it('applies nothing after an ERROR event, and relists on 410', async () => {
    const { api, calls } = scripted({
      lists: [
        async () => page([object('a', '1')], '10'),
        async () => page([object('c', '5')], '20'),
      ],
      watches: [
        async (options) => {
          options.established();
          options.onEvent('ADDED', object('b', '11'));
          options.onEvent('ERROR', { kind: 'Status', code: 410 });
          options.onEvent('ADDED', object('z', '12'));
        },
      ],
    });
    // The reflector throws from onEvent on an ERROR: the client (here the script) ends the watch.
    const { cache, events } = cacheOf(api);
    await cache.start();
    await vi.waitFor(() => expect(calls.lists).toHaveLength(2));
    await vi.waitFor(() =>
      expect(events).toEqual(['add a', 'add b', 'add c', 'delete a', 'delete b']),
    );
    expect(cache.list().map((o) => o.metadata?.name)).toEqual(['c']);
    await cache.stop();
  });

  it('stopped while listing: neither watches nor throws, and the LIST is aborted', async () => {
    let listSignal: AbortSignal | undefined;
    const { api, calls } = scripted({
      lists: [
        (options) =>
          new Promise((_, reject) => {
            listSignal = options.signal;
            options.signal?.addEventListener('abort', () => reject(new Error('aborted')));
          }),
      ],
      watches: [],
    });
    const { cache } = cacheOf(api);
    const started = cache.start().catch((error: Error) => error.message);
    await vi.waitFor(() => expect(listSignal).toBeDefined());
    await cache.stop();
    expect(await started).toBe('stopped before the cache synced');
    expect(listSignal?.aborted).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.watches).toHaveLength(0);
  });

  it('backs off instead of relisting back to back when every watch is refused with 410', async () => {
    const gone = async () => {
      throw new KubeApiError(410, { code: 410 }, 'watch');
    };
    const { api, calls } = scripted({
      lists: Array.from({ length: 3 }, () => async () => page([], '1')),
      watches: [gone, gone, gone],
    });
    const { cache } = cacheOf(api);
    await cache.start();
    await vi.waitFor(() => expect(calls.lists.length).toBeGreaterThanOrEqual(3));
    // The first 410 relisted at once; the second was a failure, retried after a backoff step.
    await vi.waitFor(() => expect(cache.failingFor()).toBeGreaterThan(0));
    await cache.stop();
  });
});

describe('changedBeyondRevision', () => {
  const pod = (resourceVersion: string, ready: string, phase = 'Running') =>
    podProjection({
      metadata: { name: 'p', namespace: 'n', resourceVersion, labels: { a: 'b' } },
      status: { phase, conditions: [{ type: 'Ready', status: ready }] },
    });
  const deployment = (resourceVersion: string, readyReplicas: number, image = 'engine:1') =>
    deploymentProjection({
      metadata: { name: 'd', namespace: 'n', resourceVersion, generation: 1 },
      spec: {
        selector: {},
        template: { spec: { containers: [{ name: 'engine', image }] } },
      },
      status: { readyReplicas },
    });

  it('is false for what the projection leaves out: a pod short of readiness, a status', () => {
    expect(changedBeyondRevision(pod('1', 'False', 'Pending'), pod('2', 'False'))).toBe(false);
    expect(changedBeyondRevision(deployment('1', 0), deployment('2', 1))).toBe(false);
    // A starting pod: no Ready condition, then Ready False since some time.
    const starting = podProjection({
      metadata: { name: 'p', namespace: 'n', resourceVersion: '1', labels: { a: 'b' } },
      status: { phase: 'Pending' },
    });
    expect(changedBeyondRevision(starting, pod('2', 'False'))).toBe(false);
    // The Deployment controller counting its rollout.
    const counted = deployment('3', 1);
    expect(
      changedBeyondRevision(
        counted,
        deploymentProjection({
          ...counted,
          metadata: {
            ...counted.metadata,
            resourceVersion: '4',
            annotations: { 'deployment.kubernetes.io/revision': '1' },
          },
        }),
      ),
    ).toBe(false);
    const budget = (resourceVersion: string, currentHealthy: number) =>
      podDisruptionBudgetProjection({
        metadata: { name: 'b', namespace: 'n', resourceVersion },
        spec: { maxUnavailable: 1 },
        status: { currentHealthy, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 2 },
      });
    expect(changedBeyondRevision(budget('1', 1), budget('2', 2))).toBe(false);
    expect(SOURCES.podDisruptionBudgets.project).toBe(podDisruptionBudgetProjection);
    expect(SOURCES.deployments.project).toBe(deploymentProjection);
  });

  it('is true for what the reconciler reads: readiness, labels, a spec', () => {
    expect(changedBeyondRevision(pod('1', 'False'), pod('2', 'True'))).toBe(true);
    // A restart seen only after it was over (both steps in one relist): Ready changed since.
    const restarted = (resourceVersion: string, lastTransitionTime: string) =>
      podProjection({
        metadata: { name: 'p', namespace: 'n', resourceVersion },
        status: {
          conditions: [
            { type: 'Ready', status: 'True', lastTransitionTime: new Date(lastTransitionTime) },
          ],
        },
      });
    expect(
      changedBeyondRevision(
        restarted('1', '2026-01-01T00:00:00Z'),
        restarted('5', '2026-01-01T00:05:00Z'),
      ),
    ).toBe(true);
    const relabelled = { ...pod('2', 'False'), metadata: { ...pod('2', 'False').metadata } };
    relabelled.metadata.labels = { a: 'c' };
    expect(changedBeyondRevision(pod('1', 'False'), relabelled)).toBe(true);
    expect(changedBeyondRevision(deployment('1', 1), deployment('2', 1, 'engine:2'))).toBe(true);
  });
});
