import {
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

/** How to list and watch one kind in one namespace (or all, with namespace ''). */
export interface ResourceSource<T extends KubernetesObject> {
  kind: string;
  path(namespace: string): string;
  list(namespace: string, labelSelector?: string): Promise<KubernetesListObject<T>>;
}

export type WatchEvent = 'add' | 'update' | 'delete';

/**
 * A cache of one kind, kept current by informers (one per watched namespace,
 * or one for the cluster), optionally limited by a label selector so that
 * unrelated objects cost no memory. An informer that fails is restarted with
 * capped backoff; a 410 Gone relists (the client library does that).
 */
export class WatchedKind<T extends KubernetesObject> {
  private readonly informers: (Informer<T> & ObjectCache<T>)[] = [];
  private readonly handlers: ((event: WatchEvent, object: T) => void)[] = [];
  private stopped = false;
  readonly kind: string;

  constructor(
    kc: KubeConfig,
    source: ResourceSource<T>,
    options: { namespaces: string[]; labelSelector?: string; log: Logger },
  ) {
    this.kind = source.kind;
    const namespaces = options.namespaces.length > 0 ? options.namespaces : [''];
    for (const namespace of namespaces) {
      const informer = makeInformer<T>(
        kc,
        source.path(namespace),
        () => source.list(namespace, options.labelSelector),
        options.labelSelector,
      );
      for (const event of ['add', 'update', 'delete'] as const) {
        informer.on(event, (object) => {
          for (const handler of this.handlers) handler(event, object);
        });
      }
      let failures = 0;
      informer.on('connect', () => {
        failures = 0;
      });
      informer.on('error', (error) => {
        if (this.stopped) return;
        const delay = Math.min(1000 * 2 ** failures++, 30_000);
        options.log.warn(
          { kind: source.kind, namespace: namespace || '(all)', err: error, retry_in_ms: delay },
          'watch failed; restarting',
        );
        setTimeout(() => {
          if (!this.stopped) informer.start().catch(() => {}); // a failed start reports through 'error' again
        }, delay).unref();
      });
      this.informers.push(informer);
    }
  }

  /** Calls `handler` for every change seen. */
  on(handler: (event: WatchEvent, object: T) => void): void {
    this.handlers.push(handler);
  }

  /** Lists and starts watching; resolves once the cache holds the first listing. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  get(namespace: string, name: string): T | undefined {
    for (const informer of this.informers) {
      const object = informer.get(name, namespace);
      if (object) return object;
    }
    return undefined;
  }

  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[] {
    return this.informers.flatMap((informer) => informer.list(namespace));
  }
}
