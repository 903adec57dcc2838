import type {
  KubernetesObject,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { FencedError, type PostgresPolicy } from '@tse/adapter';
import type { Logger } from 'pino';
import { API_VERSION, KIND, type TradingEngineInstance } from '../api/schema.ts';
import type { NetworkPolicy } from '../builders/network-policy.ts';
import { backoffDelay } from '../runtime/backoff.ts';
import type { EventRecorder, EventTarget } from '../runtime/events.ts';
import type { CacheIndex, WatchedKind } from '../runtime/informer.ts';
import type { KubeWriter } from '../runtime/kube.ts';
import type { ControllerMetrics } from '../runtime/metrics.ts';
import type { AdminConnections } from './admin.ts';

// What every part of the controller is given: the caches it reads, the
// clients it writes through, and the small helpers they all use.

/** The caches the reconciler reads instead of the API server. */
export interface Caches {
  instances: WatchedKind<KubernetesObject>;
  deployments: WatchedKind<V1Deployment>;
  services: WatchedKind<V1Service>;
  secrets: WatchedKind<V1Secret>;
  /** The engine pods (label-scoped): their roles are labelled from the holder of each instance's lock. */
  pods: WatchedKind<V1Pod>;
  /** The engine pods by the `namespace/name` of the instance their label names. */
  podsByInstance: CacheIndex<V1Pod>;
  podDisruptionBudgets: WatchedKind<V1PodDisruptionBudget>;
  networkPolicies: WatchedKind<NetworkPolicy>;
  /** Present while the Prometheus Operator's ServiceMonitor CRD exists. */
  serviceMonitors?: WatchedKind<KubernetesObject>;
}

export interface ReconcilerDependencies {
  caches: Caches;
  writer: KubeWriter;
  admin: AdminConnections;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  engineImage: string;
  /** Server-wide PostgreSQL choices: whether PUBLIC's CONNECT on other databases is revoked. */
  postgresPolicy?: PostgresPolicy;
  /** How often a converged instance is looked at again (stores re-checked, drift repaired). */
  resyncMs: number;
  now?: () => Date;
  /** Queues an instance's key now: for what the reconciler notices outside a reconcile (a Redis restart). */
  requeue?: (key: string) => void;
}

/** Thrown after status is written, so that the queue retries with backoff. */
export class RetryLater extends Error {}

/** The instance as the object its Events are about. */
export function target(instance: TradingEngineInstance): EventTarget {
  return { apiVersion: API_VERSION, kind: KIND, metadata: instance.metadata };
}

/** The current time, as the dependencies tell it. */
export function now(deps: Pick<ReconcilerDependencies, 'now'>): Date {
  return (deps.now ?? (() => new Date()))();
}

/** Counts what a store step did, by store and action. */
export function countActions(
  metrics: ControllerMetrics,
  store: 'postgres' | 'redis',
  actions: { type: string }[],
): void {
  for (const action of actions) metrics.storeActions.inc({ store, action: action.type });
}

/**
 * Per instance, how long to wait before trying again something that failed
 * for a reason a person has to fix (an object the API server refuses, a
 * deletion that is blocked): 5 s, doubling, up to 5 minutes; reset on success.
 * Not the queue's own backoff, which starts at a fraction of a second.
 */
export class Backoff {
  private readonly failures = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(baseMs = 5000, maxMs = 300_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** The delay before the next try, counting this failure. */
  next(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    if (this.failures.size > 100_000) this.failures.clear();
    return backoffDelay(failures, { initialMs: this.baseMs, capMs: this.maxMs, jitter: 0 });
  }

  reset(key: string): void {
    this.failures.delete(key);
  }
}

/**
 * Awaits writes started together: every one settles before a failure is
 * taken (nothing of a reconcile outlives it), then a failure is thrown (a
 * fenced write's first: the replica no longer leads, and nothing else is
 * to be reported; else the first in the given order); else their results.
 */
export async function settleAll<T extends readonly unknown[]>(
  writes: readonly [...T],
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const outcomes = await Promise.allSettled(writes);
  const failures = outcomes.flatMap((outcome) =>
    outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
  );
  if (failures.length > 0)
    throw failures.find((failure) => failure instanceof FencedError) ?? failures[0];
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}
