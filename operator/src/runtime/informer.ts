import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay, WATCH_BACKOFF } from './backoff.ts';
import { objectKey, resourcePath } from './kube.ts';
import { KubeApiError, type KubeClient, type WatchEventType } from './kube-client.ts';

/**
 * One kind the operator lists and watches, and what of each object it keeps:
 * `project` returns the part the operator reads (the cache holds only that),
 * so that an object's history (`managedFields`) or a pod's spec costs no memory.
 */
export interface ResourceSource<T extends KubernetesObject> {
  apiVersion: string;
  kind: string;
  project(object: T): T;
}

export type WatchEvent = 'add' | 'update' | 'delete';

/** Told of each change; an update comes with what the cache held before (client-go's OnUpdate). */
export type WatchHandler<T> = (event: WatchEvent, object: T, previous?: T) => void;

/**
 * Whether an update brought anything the cache keeps but a new
 * resourceVersion: a change of a field the projection leaves out (a
 * Deployment's status, a pod's status short of its readiness) does not.
 */
export function changedBeyondRevision(previous: KubernetesObject, object: KubernetesObject) {
  const comparable = (o: KubernetesObject) =>
    JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return comparable(previous) !== comparable(object);
}

/** What a cache needs of the API client. */
export type KubeApi = Pick<KubeClient, 'request' | 'watch'>;

export interface WatchedKindOptions {
  namespaces: string[];
  labelSelector?: string;
  log: Logger;
  backoff?: BackoffPolicy;
  /** A watch that stayed up this long (ms) starts its next failure from the first backoff step. */
  resetAfterMs?: number;
  /** Objects per LIST page. */
  pageSize?: number;
}

type Settings = WatchedKindOptions & {
  backoff: BackoffPolicy;
  resetAfterMs: number;
  pageSize: number;
};

/** Objects by namespace and name: a namespace's objects are listed without looking at the others. */
class Store<T extends KubernetesObject> {
  private readonly namespaces = new Map<string, Map<string, T>>();

  get(namespace: string, name: string): T | undefined {
    return this.namespaces.get(namespace)?.get(name);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return [...(this.namespaces.get(namespace)?.values() ?? [])];
    return [...this.namespaces.values()].flatMap((objects) => [...objects.values()]);
  }

  /** Stores an object; returns the one of that name it replaces. */
  set(object: T): T | undefined {
    const namespace = object.metadata?.namespace ?? '';
    const objects = this.namespaces.get(namespace) ?? new Map<string, T>();
    this.namespaces.set(namespace, objects);
    const name = object.metadata?.name ?? '';
    const known = objects.get(name);
    objects.set(name, object);
    return known;
  }

  delete(object: T): void {
    const namespace = object.metadata?.namespace ?? '';
    const objects = this.namespaces.get(namespace);
    objects?.delete(object.metadata?.name ?? '');
    if (objects?.size === 0) this.namespaces.delete(namespace);
  }

  /** Replaces every object; returns the previous contents. */
  replace(items: T[]): Store<T> {
    const previous = new Store<T>();
    for (const [namespace, objects] of this.namespaces) previous.namespaces.set(namespace, objects);
    this.namespaces.clear();
    for (const item of items) this.set(item);
    return previous;
  }
}

/** A watch that ended this soon without an event is a failure, not the server's timeout. */
const SHORT_WATCH_MS = 1000;

/** A watch that stays silent this long is taken for a dead connection (bookmarks come every minute). */
const WATCH_IDLE_TIMEOUT_MS = 180_000;

/** Thrown inside the loop when the API server no longer has the revision to resume from. */
class Expired extends Error {
  constructor() {
    super('the API server no longer has the revision to watch from (410 Gone)');
  }
}

/**
 * One list-and-watch loop (a client-go reflector) of one namespace, or of
 * all: LIST in pages, then WATCH from the list's resourceVersion with
 * bookmarks; a watch the server ends is reopened from the last revision
 * seen; 410 Gone relists. The cache is replaced by each LIST, and the
 * differences are handed on as events.
 */
class Reflector<T extends KubernetesObject> {
  /** When the first successful LIST completed; until then the cache is not synced. */
  listedAt: number | undefined;
  /** Since when list or watch has failed without an established watch since. */
  failingSince: number | undefined;
  readonly namespace: string;
  private readonly store = new Store<T>();
  private resourceVersion: string | undefined;
  private upSince: number | undefined;
  private failures = 0;
  /** 410s in a row without a watch that ended normally in between. */
  private expirations = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private running = false;
  private abort = new AbortController();
  private readonly syncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private readonly client: KubeApi;
  private readonly source: ResourceSource<T>;
  private readonly path: string;
  private readonly settings: Settings;
  private readonly emit: WatchHandler<T>;

  constructor(
    client: KubeApi,
    source: ResourceSource<T>,
    namespace: string,
    settings: Settings,
    emit: WatchHandler<T>,
  ) {
    this.client = client;
    this.source = source;
    this.namespace = namespace;
    this.settings = settings;
    this.emit = emit;
    this.path = resourcePath(source.apiVersion, source.kind, namespace);
  }

  start(): void {
    this.stopped = false;
    this.abort = new AbortController();
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    for (const waiter of this.syncWaiters.splice(0))
      waiter.reject(new Error('stopped before the cache synced'));
  }

  /** Resolves when the first LIST has succeeded (rejects if stopped before). */
  waitForSync(): Promise<void> {
    if (this.listedAt !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  get(namespace: string, name: string): T | undefined {
    return this.store.get(namespace, name);
  }

  list(namespace?: string): T[] {
    return this.store.list(namespace);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.stopped) {
        if (this.resourceVersion === undefined) await this.relist(this.abort.signal);
        if (this.stopped) break;
        try {
          await this.watch();
          this.expirations = 0;
        } catch (error) {
          if (!(error instanceof Expired)) throw error;
          // One relist at once, as client-go does; an API server that keeps answering
          // 410 (a lagging watch cache) is retried with backoff, not with back-to-back LISTs.
          if (++this.expirations > 1) throw error;
          this.settings.log.info(
            { kind: this.source.kind, namespace: this.namespace || '(all)' },
            'watch expired (410 Gone); relisting',
          );
          this.resourceVersion = undefined;
        }
      }
    } catch (error) {
      if (error instanceof Expired) this.resourceVersion = undefined;
      this.failed(error);
    } finally {
      this.running = false;
    }
  }

  /**
   * Lists every page, replaces the cache and emits what changed. A 410 on a
   * later page (its continue token compacted away) starts over in one page.
   */
  private async relist(signal: AbortSignal): Promise<void> {
    let items: T[] = [];
    let resourceVersion = '';
    let next: string | undefined;
    let limit: number | undefined = this.settings.pageSize;
    for (;;) {
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };
      try {
        page = await this.client.request('GET', this.path, {
          query: { labelSelector: this.settings.labelSelector, limit, continue: next },
          signal,
        });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.code === 410 && next)) throw error;
        items = [];
        next = undefined;
        limit = undefined;
        continue;
      }
      for (const item of page.items ?? []) items.push(this.projected(item));
      resourceVersion = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue || undefined;
      if (!next) break;
    }
    if (this.stopped) return;
    this.replace(items);
    this.resourceVersion = resourceVersion;
    if (this.listedAt === undefined) this.listedAt = performance.now();
    for (const waiter of this.syncWaiters.splice(0)) waiter.resolve();
  }

  private replace(items: T[]): void {
    const previous = this.store.replace(items);
    for (const item of items) {
      const known = previous.get(item.metadata?.namespace ?? '', item.metadata?.name ?? '');
      if (!known) this.emit('add', item);
      else if (known.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.emit('update', item, known);
    }
    for (const known of previous.list())
      if (!this.store.get(known.metadata?.namespace ?? '', known.metadata?.name ?? ''))
        this.emit('delete', known);
  }

  /**
   * Watches from the last revision until the server ends the watch (its
   * timeout, 5 to 10 minutes as client-go asks) or it fails. Bookmarks come
   * about once a minute, so a watch that stays silent for three is taken for
   * a dead connection and reopened.
   */
  private async watch(): Promise<void> {
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const opened = performance.now();
    let events = 0;
    await this.client
      .watch(this.path, {
        query: {
          labelSelector: this.settings.labelSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        signal: this.abort.signal,
        idleTimeoutMs: WATCH_IDLE_TIMEOUT_MS,
        established: () => {
          // Up since the last failure: reopening a watch that ended normally does not restart the clock.
          this.upSince ??= performance.now();
          this.failingSince = undefined;
        },
        onEvent: (type, object) => {
          events++;
          // An ERROR ends the watch: nothing after it on this stream is applied.
          if (type === 'ERROR') {
            const code = (object as { code?: number }).code;
            throw code === 410
              ? new Expired()
              : new KubeApiError(code ?? 500, object, `watch ${this.path}`);
          }
          this.apply(type, object as T);
        },
      })
      .catch((error) => {
        throw error instanceof KubeApiError && error.code === 410 ? new Expired() : error;
      });
    if (!this.stopped && events === 0 && performance.now() - opened < SHORT_WATCH_MS)
      throw new Error(`watch ${this.path} ended at once`);
  }

  /**
   * What the cache keeps of an object, with the kind a LIST's items leave
   * out, always first: an object met in a LIST and again on the watch
   * compares equal (`changedBeyondRevision`) when only its revision moved.
   */
  private projected(raw: T): T {
    const { apiVersion: _, kind: __, ...rest } = raw;
    return this.source.project({
      apiVersion: this.source.apiVersion,
      kind: this.source.kind,
      ...rest,
    } as T);
  }

  private apply(type: WatchEventType, raw: T): void {
    const revision = raw.metadata?.resourceVersion;
    if (revision) this.resourceVersion = revision;
    if (type === 'BOOKMARK') return;
    const object = this.projected(raw);
    if (type === 'DELETED') {
      this.store.delete(object);
      this.emit('delete', object);
      return;
    }
    const previous = this.store.set(object);
    this.emit(previous ? 'update' : 'add', object, previous);
  }

  /**
   * A failed list or watch: retry after the next backoff step. The steps start
   * over only once a watch has stayed up for `resetAfterMs`, not merely
   * connected, so that a watch refused every time (missing RBAC or CRD) backs
   * off to the cap instead of retrying every second.
   */
  private failed(error: unknown): void {
    if (this.stopped) return;
    const now = performance.now();
    if (this.upSince !== undefined && now - this.upSince >= this.settings.resetAfterMs)
      this.failures = 0;
    this.upSince = undefined;
    this.failingSince ??= now;
    const delay = backoffDelay(this.failures++, this.settings.backoff);
    // One line per backoff step: the steps are what spaces the retries.
    this.settings.log.warn(
      {
        kind: this.source.kind,
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
 * jittered exponential backoff.
 */
export class WatchedKind<T extends KubernetesObject> {
  private readonly reflectors: Reflector<T>[] = [];
  private readonly handlers: WatchHandler<T>[] = [];
  readonly kind: string;

  constructor(client: KubeApi, source: ResourceSource<T>, options: WatchedKindOptions) {
    this.kind = source.kind;
    const settings: Settings = {
      backoff: WATCH_BACKOFF,
      resetAfterMs: 120_000,
      pageSize: 500,
      ...options,
    };
    const namespaces = options.namespaces.length > 0 ? options.namespaces : [''];
    const emit: WatchHandler<T> = (event, object, previous) => {
      for (const handler of this.handlers) handler(event, object, previous);
    };
    for (const namespace of namespaces)
      this.reflectors.push(new Reflector(client, source, namespace, settings, emit));
  }

  /** Calls `handler` for every change seen. */
  on(handler: WatchHandler<T>): void {
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
  failingFor(now = performance.now()): number {
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
      const object = reflector.get(namespace, name);
      if (object) return object;
    }
    return undefined;
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.reflectors.flatMap((reflector) => reflector.list(namespace));
  }
}

/**
 * A watched kind's objects grouped by a value of theirs (a label, say), kept
 * up to date from its events: one group is read without looking at the
 * others. Objects for which `by` gives undefined are in no group.
 */
export class CacheIndex<T extends KubernetesObject> {
  private readonly groups = new Map<string, Map<string, T>>();
  /** Each object's group, by namespace/name. */
  private readonly groupOf = new Map<string, string>();
  private readonly by: (object: T) => string | undefined;

  constructor(kind: Pick<WatchedKind<T>, 'list' | 'on'>, by: (object: T) => string | undefined) {
    this.by = by;
    for (const object of kind.list()) this.put(object);
    kind.on((event, object) => (event === 'delete' ? this.remove(object) : this.put(object)));
  }

  /** The objects of one group. */
  get(group: string): T[] {
    return [...(this.groups.get(group)?.values() ?? [])];
  }

  private put(object: T): void {
    this.remove(object);
    const group = this.by(object);
    if (group === undefined) return;
    const id = objectKey(object);
    const members = this.groups.get(group) ?? new Map<string, T>();
    this.groups.set(group, members);
    members.set(id, object);
    this.groupOf.set(id, group);
  }

  private remove(object: T): void {
    const id = objectKey(object);
    const group = this.groupOf.get(id);
    if (group === undefined) return;
    this.groupOf.delete(id);
    const members = this.groups.get(group);
    members?.delete(id);
    if (members?.size === 0) this.groups.delete(group);
  }
}
