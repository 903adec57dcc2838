import type { ControllerMetrics } from './metrics.ts';

/** What a reconcile asks of the queue afterwards. */
export interface ReconcileResult {
  /** Reconcile again after this long (ms), without counting it as a failure. */
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  name: string;
  concurrency: number;
  /** First retry delay after a failure (ms), doubled per failure up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  metrics?: ControllerMetrics;
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

/**
 * The one worker loop of a controller, level-triggered: keys, not events.
 * A key is never reconciled twice at once (adding it while it runs marks it
 * dirty, so it runs once more afterwards); at most `concurrency` keys run at
 * a time; failures back off exponentially per key, with a cap; retries,
 * delays and metrics live here so reconcilers only supply `reconcile(key)`.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly addedAt = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private stopped = true;
  private shutDown = false;
  private readonly options: Required<Omit<WorkQueueOptions, 'metrics' | 'onError'>> &
    Pick<WorkQueueOptions, 'metrics' | 'onError'>;
  private reconcile: (key: string) => Promise<ReconcileResult | undefined> = async () => undefined;

  constructor(options: WorkQueueOptions) {
    this.options = { baseBackoffMs: 200, maxBackoffMs: 300_000, ...options };
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

  /** Queues a key now (a pending delay for it is superseded). */
  add(key: string): void {
    const pending = this.delayed.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.delayed.delete(key);
    }
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.addedAt.set(key, performance.now());
    this.options.metrics?.adds.inc({ name: this.options.name });
    this.updateDepth();
    this.pump();
  }

  /** Queues a key after `ms`, unless it is queued earlier. */
  addAfter(key: string, ms: number): void {
    if (this.shutDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Keys queued or running now. */
  get depth(): number {
    return this.queue.length;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The backoff the next failure of `key` will get. */
  backoffFor(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    return Math.min(this.options.baseBackoffMs * 2 ** failures, this.options.maxBackoffMs);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency) {
      const index = this.queue.findIndex((key) => !this.running.has(key));
      if (index === -1) break;
      const [key] = this.queue.splice(index, 1) as [string];
      this.queued.delete(key);
      this.updateDepth();
      void this.work(key);
    }
    if (this.running.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.queue.length === 0 && this.running.size === 0)
      for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async work(key: string): Promise<void> {
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
      this.addAfter(key, delay);
    }
    const seconds = (performance.now() - started) / 1000;
    metrics?.workDuration.observe({ name }, seconds);
    metrics?.reconcileTime.observe({ controller: name }, seconds);
    const outcome = failed ? 'error' : result?.requeueAfterMs ? 'requeue_after' : 'success';
    metrics?.reconciles.inc({ controller: name, result: outcome });
    if (failed) metrics?.reconcileErrors.inc({ controller: name });
    if (!failed) this.failures.delete(key);
    if (!failed && result?.requeueAfterMs) this.addAfter(key, result.requeueAfterMs);

    this.running.delete(key);
    metrics?.activeWorkers.set({ controller: name }, this.running.size);
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  private updateDepth(): void {
    this.options.metrics?.depth.set({ name: this.options.name }, this.queue.length);
  }
}
