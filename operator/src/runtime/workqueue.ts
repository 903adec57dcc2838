import { backoffDelay } from './backoff.ts';
import type { ControllerMetrics } from './metrics.ts';

/** What a reconcile asks of the queue afterwards. */
export interface ReconcileResult {
  /** Reconcile again after this long (ms), without counting it as a failure. */
  requeueAfterMs?: number;
}

/**
 * Which lane a key waits in: `high` for objects that are new or changed (or
 * whose owned objects changed), `low` for keys that only need looking at
 * again: met again in a LIST, a resync, a reconcile's own requeue-after.
 */
export type Priority = 'high' | 'low';

/** Of the keys taken while both lanes have keys waiting, at least one in this many is a low one. */
export const LOW_LANE_SHARE = 10;

/** A key to be queued later: when, in which lane. */
interface Delayed {
  at: number;
  priority: Priority;
  timer: NodeJS.Timeout;
}

export interface WorkQueueOptions {
  name: string;
  concurrency: number;
  /** First retry delay after a failure (ms), doubled per failure up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Up to this fraction of a failure's delay is added at random (default
   * 0.5), so keys that failed together, two claims refused at the same
   * moment say, do not retry in step.
   */
  backoffJitter?: number;
  /** In [0, 1); Math.random unless a test needs it fixed. */
  random?: () => number;
  metrics?: ControllerMetrics;
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

/**
 * The one worker loop of a controller, level-triggered: keys, not events.
 * A key is never reconciled twice at once (adding it while it runs marks it
 * dirty, so it runs once more afterwards); at most `concurrency` keys run at
 * a time; failures back off exponentially per key, with a cap and jitter; retries,
 * delays and metrics live here so reconcilers only supply `reconcile(key)`.
 *
 * Keys wait in two lanes, as in controller-runtime's priority queue: what
 * changed goes before what is only looked at again, so that a new instance
 * does not wait behind a resync of every instance, nor behind the periodic
 * requeues of a burst of others. A key is in one lane at a time: adding it
 * high while it waits low moves it up (to the back of the high lane), adding
 * it low while it waits high changes nothing; a key dirtied while it runs
 * reruns in the higher of the lanes it was asked for. A failure retries in
 * the lane the key ran in (the backoff paces it); a requeue-after comes back
 * low (nothing is known to have changed). The low lane is never starved: it
 * gets at least one key in every `LOW_LANE_SHARE` taken.
 *
 * Within a lane, the keys' namespaces take turns (a FIFO per namespace).
 * Measured with a burst of 100 new instances in one namespace, priority alone
 * does not help a new instance in another: the burst's instances are new too,
 * and a FIFO serves it after all of them (17 s in one run, against half a
 * second idle). Taking namespaces in turn serves it at the next free worker,
 * so one tenant's burst does not hold up the others'. Keys are
 * `namespace/name`; one without `/` is in namespace ''.
 */
export class WorkQueue {
  private readonly lanes: Record<Priority, Lane> = { high: new Lane(), low: new Lane() };
  private readonly queued = new Map<string, Priority>();
  private readonly running = new Set<string>();
  private readonly dirty = new Map<string, Priority>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly addedAt = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  /** High keys taken in a row while low ones waited. */
  private highStreak = 0;
  private stopped = true;
  private shutDown = false;
  private readonly options: Required<Omit<WorkQueueOptions, 'metrics' | 'onError'>> &
    Pick<WorkQueueOptions, 'metrics' | 'onError'>;
  private reconcile: (key: string) => Promise<ReconcileResult | undefined> = async () => undefined;

  constructor(options: WorkQueueOptions) {
    this.options = {
      baseBackoffMs: 200,
      maxBackoffMs: 300_000,
      backoffJitter: 0.5,
      random: Math.random,
      ...options,
    };
  }

  /** Starts the workers with the reconcile function. */
  start(reconcile: (key: string) => Promise<ReconcileResult | undefined>): void {
    this.reconcile = reconcile;
    this.stopped = false;
    this.options.metrics?.maxConcurrent.set(
      { controller: this.options.name },
      this.options.concurrency,
    );
    this.pump();
  }

  /**
   * Stops taking keys and resolves when the reconciles already running have
   * finished, or after `drainTimeoutMs` (true if they all finished). Keys still
   * queued are left for the next leader: the queue is not emptied first.
   */
  async stop(drainTimeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.stopped = true;
    this.shutDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    if (this.running.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true)));
    const timedOut = new Promise<boolean>((resolve) => {
      if (Number.isFinite(drainTimeoutMs)) timer = setTimeout(() => resolve(false), drainTimeoutMs);
    });
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reconciles running now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Queues a key now in `priority`'s lane, or raises it there if it waits in
   * a lower one. A pending delay for it is superseded, its lane kept if higher.
   */
  add(key: string, priority: Priority = 'high'): void {
    const pending = this.delayed.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.delayed.delete(key);
      priority = higher(priority, pending.priority);
    }
    if (this.running.has(key)) {
      this.dirty.set(key, higher(priority, this.dirty.get(key)));
      return;
    }
    const waiting = this.queued.get(key);
    // Waiting already, in this lane or a higher one.
    if (waiting && higher(priority, waiting) === waiting) return;
    if (waiting) this.lanes[waiting].delete(key);
    else {
      this.addedAt.set(key, performance.now());
      this.options.metrics?.adds.inc({ name: this.options.name });
    }
    this.lanes[priority].push(key);
    this.queued.set(key, priority);
    this.updateDepth();
    this.schedulePump();
  }

  /**
   * Starts waiting keys once the code that added them has run to its end,
   * not in the middle of it: a cache hands its events to every listener in
   * turn (and a relist hands on many), and a reconcile started from the
   * first listener would read what the later ones have not yet updated.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pumpScheduled = false;

  /**
   * Queues a key in `priority`'s lane after `ms`, unless it is queued
   * earlier. Asked twice, the earlier time and the higher lane win.
   */
  addAfter(key: string, ms: number, priority: Priority = 'high'): void {
    if (this.shutDown) return;
    if (ms <= 0) {
      this.add(key, priority);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    const lane = higher(priority, pending?.priority);
    if (pending && pending.at <= at) {
      pending.priority = lane;
      return;
    }
    if (pending) clearTimeout(pending.timer);
    const due: Delayed = {
      at,
      priority: lane,
      timer: setTimeout(() => {
        this.delayed.delete(key);
        this.add(key, due.priority);
      }, ms),
    };
    due.timer.unref();
    this.delayed.set(key, due);
  }

  /** Keys queued now, in both lanes. */
  get depth(): number {
    return this.queued.size;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queued.size === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The delay the next failure of `key` will get. */
  backoffFor(key: string): number {
    const { baseBackoffMs, maxBackoffMs, backoffJitter, random } = this.options;
    return backoffDelay(
      this.failures.get(key) ?? 0,
      { initialMs: baseBackoffMs, capMs: maxBackoffMs, jitter: backoffJitter },
      random,
    );
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency) {
      const lane = nextLane(this.lanes.high.size, this.lanes.low.size, this.highStreak);
      if (!lane) break;
      this.highStreak = lane === 'high' && this.lanes.low.size > 0 ? this.highStreak + 1 : 0;
      const key = this.lanes[lane].shift();
      this.queued.delete(key);
      this.updateDepth();
      void this.work(key, lane);
    }
    if (this.running.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.queued.size === 0 && this.running.size === 0)
      for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async work(key: string, lane: Priority): Promise<void> {
    const { metrics, name } = this.options;
    this.running.add(key);
    metrics?.activeWorkers.set({ controller: name }, this.running.size);
    const added = this.addedAt.get(key);
    if (added !== undefined)
      metrics?.queueDuration.observe({ name }, (performance.now() - added) / 1000);
    this.addedAt.delete(key);
    const started = performance.now();
    let result: ReconcileResult | undefined;
    let failed = false;
    try {
      result = await this.reconcile(key);
    } catch (error) {
      failed = true;
      const delay = this.backoffFor(key);
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      metrics?.retries.inc({ name });
      this.options.onError?.(key, error, delay);
      this.addAfter(key, delay, lane);
    }
    const seconds = (performance.now() - started) / 1000;
    metrics?.workDuration.observe({ name }, seconds);
    metrics?.reconcileTime.observe({ controller: name }, seconds);
    const outcome = failed ? 'error' : result?.requeueAfterMs ? 'requeue_after' : 'success';
    metrics?.reconciles.inc({ controller: name, result: outcome });
    if (failed) metrics?.reconcileErrors.inc({ controller: name });
    if (!failed) this.failures.delete(key);
    if (!failed && result?.requeueAfterMs) this.addAfter(key, result.requeueAfterMs, 'low');

    this.running.delete(key);
    metrics?.activeWorkers.set({ controller: name }, this.running.size);
    const rerun = this.dirty.get(key);
    this.dirty.delete(key);
    if (rerun) this.add(key, rerun);
    this.pump();
  }

  private updateDepth(): void {
    for (const priority of ['high', 'low'] as const)
      this.options.metrics?.depth.set(
        { name: this.options.name, priority },
        this.lanes[priority].size,
      );
  }
}

/** The higher of two lanes (an absent one is lowest). */
export function higher(a: Priority, b: Priority | undefined): Priority {
  return a === 'high' || b === 'high' ? 'high' : 'low';
}

/**
 * The lane to take the next key from: the high one, unless it is empty or
 * `highStreak` high keys have been taken in a row while low ones waited.
 */
export function nextLane(
  highWaiting: number,
  lowWaiting: number,
  highStreak: number,
): Priority | undefined {
  if (lowWaiting > 0 && (highWaiting === 0 || highStreak >= LOW_LANE_SHARE - 1)) return 'low';
  return highWaiting > 0 ? 'high' : undefined;
}

/** The namespace of a `namespace/name` key ('' without a `/`). */
export function namespaceOf(key: string): string {
  const slash = key.indexOf('/');
  return slash === -1 ? '' : key.slice(0, slash);
}

/**
 * One lane: a FIFO of keys per namespace, the namespaces taking turns (the
 * map's order is the order of turns; a namespace served goes to the back).
 */
class Lane {
  private readonly byNamespace = new Map<string, Set<string>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(key: string): void {
    const namespace = namespaceOf(key);
    const keys = this.byNamespace.get(namespace);
    if (keys) keys.add(key);
    else this.byNamespace.set(namespace, new Set([key]));
    this.count++;
  }

  delete(key: string): void {
    const namespace = namespaceOf(key);
    const keys = this.byNamespace.get(namespace);
    if (!keys?.delete(key)) return;
    this.count--;
    if (keys.size === 0) this.byNamespace.delete(namespace);
  }

  /** The first key of the namespace whose turn it is (the lane must not be empty). */
  shift(): string {
    const [namespace, keys] = this.byNamespace.entries().next().value as [string, Set<string>];
    const key = keys.values().next().value as string;
    keys.delete(key);
    this.count--;
    this.byNamespace.delete(namespace);
    if (keys.size > 0) this.byNamespace.set(namespace, keys);
    return key;
  }
}
