import type { KubernetesObject } from '@kubernetes/client-node';
import { TseError } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { buildNetworkPolicy, type NetworkPolicy } from '../builders/network-policy.ts';
import { buildServiceMonitor } from '../builders/service-monitor.ts';
import type { ReconcilerDependencies } from './context.ts';
import { driftPatch, isDerivative } from './drift.ts';
import { foreignObjectRefusal } from './ownership.ts';

/**
 * Writes the objects an instance owns: server-side apply when the live object
 * lacks something we set, a JSON patch of the drifted fields when apply
 * cannot put them back, nothing when the cluster already has it all.
 */
export class OwnedObjects {
  private readonly deps: ReconcilerDependencies;
  /** Shared with the status writer: what was written a moment ago. */
  readonly written: RecentWrites;

  constructor(deps: ReconcilerDependencies, written: RecentWrites) {
    this.deps = deps;
    this.written = written;
  }

  /**
   * Applies `desired` unless the live object (cached, or just read) already
   * has everything it sets. Where server-side apply leaves drift behind
   * (fields another manager added), a JSON patch of the drifted fields puts
   * ours back. `builtFromLive`: `desired` holds values chosen from what
   * `live` held (passwords), so one found in its place when creating is not
   * written over; the attempt fails, to be built again from it.
   */
  async ensure<T extends KubernetesObject>(
    desired: T,
    live: T | undefined,
    { builtFromLive = false } = {},
  ): Promise<T> {
    try {
      return await this.write(desired, live, builtFromLive);
    } catch (error) {
      throw rejectionOf(desired, error) ?? error;
    }
  }

  private async write<T extends KubernetesObject>(
    desired: T,
    live: T | undefined,
    builtFromLive = false,
  ): Promise<T> {
    const key = RecentWrites.keyOf(desired);
    live = this.written.fresher(key, live, controllerUid(desired));
    const refusal = foreignObjectRefusal(desired, live);
    if (refusal) throw refusal;
    if (!live) return this.create(desired, key, builtFromLive);
    if (isDerivative(desired, live)) return live;
    const what = { kind: desired.kind, name: desired.metadata?.name };
    this.deps.log.info(what, 'repairing drift');
    let applied: T = live;
    try {
      applied = this.written.remember(key, await this.deps.writer.apply(desired));
    } catch (error) {
      if ((error as { code?: number }).code !== 422) throw error;
    }
    if (isDerivative(desired, applied)) return applied;
    const patch = async (coarse: boolean) => {
      const operations = driftPatch(
        desired as Record<string, unknown>,
        applied as Record<string, unknown>,
        { coarse },
      );
      this.deps.log.info(
        { ...what, paths: operations.map((operation) => operation.path) },
        'replacing drifted fields',
      );
      return this.written.remember(key, await this.deps.writer.jsonPatch(applied, operations));
    };
    try {
      return await patch(false);
    } catch (error) {
      // A field we do not set contradicts one we do: replace the objects around ours whole.
      if ((error as { code?: number }).code !== 422) throw error;
      return patch(true);
    }
  }

  /**
   * Creates an object neither the caches nor the caller have, only if its
   * name is free: the caches hold only labelled objects, and one someone
   * else made may be there. Then it is read, and judged like any other (a
   * foreign one refused, untouched).
   */
  private async create<T extends KubernetesObject>(
    desired: T,
    key: string,
    builtFromLive: boolean,
  ): Promise<T> {
    const what = `${desired.kind} "${desired.metadata?.name}"`;
    this.deps.log.debug({ kind: desired.kind, name: desired.metadata?.name }, 'creating');
    try {
      return this.written.remember(key, await this.deps.writer.create(desired));
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
      const existing = await this.deps.writer.read(desired);
      if (!existing) throw new Error(`${what} came and went meanwhile`, { cause: error });
      // One of ours is not written over with values chosen for none; a foreign one is refused.
      if (builtFromLive && !foreignObjectRefusal(desired, existing))
        throw new Error(`${what} appeared meanwhile`, { cause: error });
      return this.write(desired, existing);
    }
  }

  /** The engines' NetworkPolicy while it is enabled; ours is deleted when it is turned off. */
  async ensureNetworkPolicy(instance: TradingEngineInstance): Promise<void> {
    const desired = buildNetworkPolicy(instance);
    const live = this.deps.caches.networkPolicies.get(
      instance.metadata.namespace,
      instance.metadata.name,
    );
    if (instance.spec.networkPolicy.enabled) {
      const applied = await this.ensure(desired, live);
      // Ours to the letter: a peer or port someone added would let more in, and
      // fields we do not set are exactly what a hand edit would widen.
      if (!sameSpec(desired.spec, (applied as NetworkPolicy).spec)) {
        this.deps.log.info(
          { kind: 'NetworkPolicy', name: desired.metadata?.name },
          'replacing widened spec',
        );
        this.written.remember(
          RecentWrites.keyOf(desired),
          await this.deps.writer.jsonPatch(applied, [
            { op: 'replace', path: '/spec', value: desired.spec },
          ]),
        );
      }
      return;
    }
    if (live && !foreignObjectRefusal(desired, live)) {
      this.deps.log.info(
        { kind: 'NetworkPolicy', name: desired.metadata?.name },
        'deleting: turned off',
      );
      await this.deps.writer.delete(live);
    }
  }

  async ensureServiceMonitor(instance: TradingEngineInstance): Promise<void> {
    const monitors = this.deps.caches.serviceMonitors;
    if (!monitors || !instance.spec.monitoring.serviceMonitor.enabled) return;
    await this.ensure(
      buildServiceMonitor(instance),
      monitors.get(instance.metadata.namespace, instance.metadata.name),
    );
  }
}

/** The API server refused an owned object: the request itself is wrong, so retrying as is will not help. */
export class ApplyError extends TseError {
  readonly code = 'APPLY_FAILED';
  readonly status: number;

  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/**
 * An ApplyError for an API server's 4xx answer about `desired` (422 Invalid,
 * 403 Forbidden, 409 Conflict, 400 Bad Request...), naming the kind, the
 * name and what the API server said; undefined for anything else (a 404, a
 * 429, a 5xx, a lost connection), which is retried as it is.
 */
export function rejectionOf(desired: KubernetesObject, error: unknown): ApplyError | undefined {
  const status = (error as { code?: unknown }).code;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if ([404, 408, 429].includes(status)) return undefined;
  const said = apiMessage((error as { body?: unknown }).body) ?? (error as Error).message;
  return new ApplyError(
    `the API server refused ${desired.kind} "${desired.metadata?.name}" (${status}): ${said}`,
    status,
    { cause: error },
  );
}

/** The `message` of a Status body, sent as JSON text or already parsed. */
function apiMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** Written objects are forgotten after this many grace periods, whether or not they were asked for. */
const KEPT_GRACES = 6;

/**
 * The objects this operator wrote a moment ago. The informer cache catches up
 * a little later; until it does, the written object is the truth, so the next
 * reconcile does not write it again.
 */
export class RecentWrites {
  private readonly objects = new Map<string, { object: KubernetesObject; at: number }>();
  /** How long a written object stands in for one the cache does not have. */
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(options: { graceMs?: number; now?: () => number } = {}) {
    this.graceMs = options.graceMs ?? 10_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** The key an object is remembered under: its kind, namespace and name. */
  static keyOf(object: KubernetesObject): string {
    return `${object.kind}/${object.metadata?.namespace}/${object.metadata?.name}`;
  }

  remember<T extends KubernetesObject>(key: string, object: T): T {
    const now = this.now();
    this.objects.delete(key);
    this.objects.set(key, { object, at: now });
    // Oldest first: the cache has long caught up with writes this old, and at a
    // thousand instances they would otherwise stay until each one's next reconcile.
    for (const [oldest, entry] of this.objects) {
      if (now - entry.at <= this.graceMs * KEPT_GRACES && this.objects.size <= 10_000) break;
      this.objects.delete(oldest);
    }
    return object;
  }

  /**
   * Whether a watched object is one of this operator's writes coming back
   * (the revision its write returned): nothing in it the reconcile that made
   * it has not seen.
   */
  isEcho(object: KubernetesObject): boolean {
    const revision = object.metadata?.resourceVersion;
    const entry = this.objects.get(RecentWrites.keyOf(object));
    return revision !== undefined && entry?.object.metadata?.resourceVersion === revision;
  }

  /**
   * The cached object, or the one written here when the cache has not seen
   * it yet. Only for a moment: an object the cache still lacks after that
   * was deleted (by someone, or with its owner) and must not stand in for it.
   */
  fresher<T extends KubernetesObject>(
    key: string,
    cached: T | undefined,
    /** The owner the object must have now: one written for an earlier instance of the name does not count. */
    owner?: string,
  ): T | undefined {
    const entry = this.objects.get(key);
    if (!entry) return cached;
    const written = entry.object as T;
    const stale = owner !== undefined && controllerUid(written) !== owner;
    if (stale || (!cached && this.now() - entry.at > this.graceMs)) {
      this.objects.delete(key);
      return cached;
    }
    const mine = Number(written.metadata?.resourceVersion);
    const theirs = Number(cached?.metadata?.resourceVersion);
    if (cached && !(theirs < mine)) {
      this.objects.delete(key);
      return cached;
    }
    return written;
  }
}

function controllerUid(object: KubernetesObject): string | undefined {
  return object.metadata?.ownerReferences?.find((reference) => reference.controller)?.uid;
}

/** Equal both ways: nothing of ours missing, nothing of anyone else's added. */
function sameSpec(desired: unknown, live: unknown): boolean {
  return isDerivative(desired, live) && isDerivative(live, desired, [], false);
}
