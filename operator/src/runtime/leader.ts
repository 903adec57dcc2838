import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewEveryMs?: number;
  log: Logger;
}

/**
 * Leader election on a coordination.k8s.io Lease: a replica becomes leader
 * when the lease is free or has expired, and renews it while it leads. A
 * leader that cannot renew before the lease expires gives up (`onLost`),
 * because another replica may already be reconciling.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: Required<Omit<LeaderElectionOptions, 'log'>> & { log: Logger };
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;

  constructor(kc: KubeConfig, options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.options = { leaseDurationSeconds: 15, renewEveryMs: 2000, ...options };
  }

  /** Resolves when this replica leads; calls `onLost` if it later stops leading. */
  async acquire(onLost: () => void): Promise<void> {
    const { log, name, namespace, identity } = this.options;
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      if (await this.attempt('lease update failed')) break;
      await new Promise((resolve) => setTimeout(resolve, this.options.renewEveryMs));
    }
    this.leading = true;
    log.info({ lease: `${namespace}/${name}`, identity }, 'became leader');
    const renew = async () => {
      const ok = await this.attempt('lease renewal failed');
      const expired = Date.now() - this.lastRenew > this.options.leaseDurationSeconds * 1000;
      if (!ok && expired) {
        this.leading = false;
        log.error({ lease: `${namespace}/${name}` }, 'lost leadership');
        onLost();
        return;
      }
      if (!this.stopped) this.timer = setTimeout(renew, this.options.renewEveryMs);
    };
    this.timer = setTimeout(renew, this.options.renewEveryMs);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Stops renewing and hands the lease back so that another replica takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const lease = await this.read().catch(() => undefined);
    if (lease?.spec?.holderIdentity !== this.options.identity) return;
    lease.spec.holderIdentity = undefined;
    lease.spec.leaseDurationSeconds = 1;
    await this.api
      .replaceNamespacedLease({
        name: this.options.name,
        namespace: this.options.namespace,
        body: lease,
      })
      .catch(() => {});
  }

  /** One try at taking or renewing the lease; a failure is logged and counts as not leading. */
  private async attempt(failure: string): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (error) {
      this.options.log.warn({ err: error }, failure);
      return false;
    }
  }

  private read(): Promise<V1Lease> {
    return this.api.readNamespacedLease({
      name: this.options.name,
      namespace: this.options.namespace,
    });
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity, leaseDurationSeconds } = this.options;
    const now = new Date();
    const stamp = microTime(now);
    let lease: V1Lease | undefined;
    try {
      lease = await this.read();
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    if (!lease) {
      await this.api.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: stamp,
            renewTime: stamp,
            leaseTransitions: 0,
          },
        },
      });
      this.lastRenew = now.getTime();
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired =
      renewed + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
    if (holder && holder !== identity && !expired) return false;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: stamp,
      ...(holder !== identity && {
        acquireTime: stamp,
        leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
      }),
    };
    // The resourceVersion in `lease` makes this a compare-and-swap: two candidates cannot both win.
    await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    this.lastRenew = now.getTime();
    return true;
  }
}

/**
 * A Lease time as the API server wants it (RFC 3339 with microseconds). The
 * client library would send a Date with milliseconds, which it refuses.
 */
function microTime(date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}
