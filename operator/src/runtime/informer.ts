import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay, WATCH_BACKOFF } from './backoff.ts';

/** How to list and watch one kind in one namespace (or all, with namespace ''). */
export interface ResourceSource<T extends KubernetesObject> {
  kind: string;
  path(namespace: string): string;
  list(namespace: string, labelSelector?: string): Promise<KubernetesListObject<T>>;
}

export type WatchEvent = 'add' | 'update' | 'delete';

export interface WatchedKindOptions {
  namespaces: string[];
  labelSelector?: string;
  log: Logger;
  backoff?: BackoffPolicy;
  /** A watch that stayed up this long (ms) starts its next failure from the first backoff step. */
  resetAfterMs?: number;
}

/**
 * A watch that asks the API server for bookmarks (the client library's
 * informer does not), so that a quiet watch resumes from a recent
 * resourceVersion instead of relisting, and that tells when it is established.
 */
class BookmarkWatch extends Watch {
  private readonly established: () => void;

  constructor(kc: KubeConfig, established: () => void) {
    super(kc);
    this.established = established;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let ended = false;
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      callback,
      (error) => {
        ended = true;
        done(error);
      },
    );
    // A watch that failed has called `done` before returning: only one that did not is up.
    if (!ended) this.established();
    return controller;
  }
}

/** One list-and-watch loop (a client-go reflector) of one namespace, or of all. */
class Reflector<T extends KubernetesObject> {
  readonly informer: ListWatch<T>;
  /** When the first successful LIST completed; until then the cache is not synced. */
  listedAt: number | undefined;
  /** Since when list or watch has failed without an established watch since. */
  failingSince: number | undefined;
  private upSince: number | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly syncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private listSucceeded = false;

  private readonly kind: string;
  readonly namespace: string;
  private readonly options: WatchedKindOptions & { backoff: BackoffPolicy; resetAfterMs: number };

  constructor(
    kc: KubeConfig,
    source: ResourceSource<T>,
    namespace: string,
    options: WatchedKindOptions & { backoff: BackoffPolicy; resetAfterMs: number },
  ) {
    this.kind = source.kind;
    this.namespace = namespace;
    this.options = options;
    const list = async () => {
      const listed = await source.list(namespace, options.labelSelector);
      this.listSucceeded = true;
      return listed;
    };
    this.informer = new ListWatch<T>(
      source.path(namespace),
      new BookmarkWatch(kc, () => {
        // Up since the last failure: reopening a watch that ended normally does not restart the clock.
        this.upSince ??= Date.now();
        this.failingSince = undefined;
      }),
      list,
      false,
      options.labelSelector,
    );
    this.informer.on('error', (error) => this.failed(error));
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  /**
   * One start of the client library's list-and-watch. It resolves whether or
   * not its LIST succeeded (a failure comes as an 'error' event): the cache
   * counts as synced only if the LIST did, by which time the cache holds it.
   */
  private async run(): Promise<void> {
    try {
      await this.informer.start();
    } catch (error) {
      this.failed(error);
    }
    if (this.listSucceeded && !this.stopped) this.synced();
  }

  /** Resolves when the first LIST has succeeded (rejects if stopped before). */
  waitForSync(): Promise<void> {
    if (this.listedAt !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const waiter of this.syncWaiters.splice(0))
      waiter.reject(new Error('stopped before the cache synced'));
    await this.informer.stop();
  }

  private synced(): void {
    if (this.listedAt === undefined) this.listedAt = Date.now();
    for (const waiter of this.syncWaiters.splice(0)) waiter.resolve();
  }

  /**
   * A failed list or watch: retry after the next backoff step. The steps start
   * over only once a watch has stayed up for `resetAfterMs`, not merely
   * connected, so that a watch refused every time (missing RBAC or CRD) backs
   * off to the cap instead of retrying every second.
   */
  private failed(error: unknown): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.upSince !== undefined && now - this.upSince >= this.options.resetAfterMs)
      this.failures = 0;
    this.upSince = undefined;
    this.failingSince ??= now;
    const delay = backoffDelay(this.failures++, this.options.backoff);
    // One line per backoff step: the steps are what spaces the retries.
    this.options.log.warn(
      {
        kind: this.kind,
        namespace: this.namespace || '(all)',
        err: error,
        attempt: this.failures,
        synced: this.listedAt !== undefined,
        retry_in_ms: delay,
      },
      this.listedAt === undefined ? 'list failed; retrying' : 'watch failed; restarting',
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped) void this.run();
    }, delay);
    this.timer.unref();
  }
}

/**
 * A cache of one kind, kept current by reflectors (one per watched namespace,
 * or one for the cluster), optionally limited by a label selector so that
 * unrelated objects cost no memory. It is synced only once every reflector
 * has completed a LIST: an empty cache because a list failed must never read
 * as "there is nothing". A reflector that fails is restarted with capped,
 * jittered exponential backoff; a 410 Gone relists (the client library does that).
 */
export class WatchedKind<T extends KubernetesObject> {
  private readonly reflectors: Reflector<T>[] = [];
  private readonly handlers: ((event: WatchEvent, object: T) => void)[] = [];
  readonly kind: string;

  constructor(kc: KubeConfig, source: ResourceSource<T>, options: WatchedKindOptions) {
    this.kind = source.kind;
    const settings = { backoff: WATCH_BACKOFF, resetAfterMs: 120_000, ...options };
    const namespaces = options.namespaces.length > 0 ? options.namespaces : [''];
    for (const namespace of namespaces) {
      const reflector = new Reflector(kc, source, namespace, settings);
      for (const event of ['add', 'update', 'delete'] as const) {
        reflector.informer.on(event, (object) => {
          for (const handler of this.handlers) handler(event, object);
        });
      }
      this.reflectors.push(reflector);
    }
  }

  /** Calls `handler` for every change seen. */
  on(handler: (event: WatchEvent, object: T) => void): void {
    this.handlers.push(handler);
  }

  /**
   * Lists and starts watching; resolves only once every reflector has listed
   * successfully (retrying with backoff meanwhile), never on a failed list.
   * Rejects if stopped first.
   */
  async start(): Promise<void> {
    for (const reflector of this.reflectors) reflector.start();
    await Promise.all(this.reflectors.map((reflector) => reflector.waitForSync()));
  }

  /** Whether every reflector has completed its first LIST. */
  hasSynced(): boolean {
    return this.reflectors.every((reflector) => reflector.listedAt !== undefined);
  }

  /** How long (ms) the longest-failing reflector has been failing, 0 if none is. */
  failingFor(now = Date.now()): number {
    return Math.max(
      0,
      ...this.reflectors.map((r) => (r.failingSince === undefined ? 0 : now - r.failingSince)),
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((reflector) => reflector.stop()));
  }

  get(namespace: string, name: string): T | undefined {
    for (const reflector of this.reflectors) {
      const object = reflector.informer.get(name, namespace);
      if (object) return object;
    }
    return undefined;
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.reflectors.flatMap((reflector) => reflector.informer.list(namespace));
  }
}
