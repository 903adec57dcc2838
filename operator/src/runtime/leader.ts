import type { Logger } from 'pino';
import { isNotFound, resourcePath } from './kube.ts';
import type { KubeClient } from './kube-client.ts';

/** The fields of a Lease's spec that leader election reads and writes. */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** RFC 3339 with microseconds (a MicroTime), as the API server keeps it. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A coordination.k8s.io/v1 Lease, as much of it as leader election reads. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseRecord;
}

/**
 * A lease record as this replica last saw it, and when (by its own clock) it
 * last saw it change. Whether a holder's lease has expired is judged from
 * `at` only: the holder's renewTime comes from another machine's clock.
 */
export interface Observation {
  record: LeaseRecord;
  at: number;
}

/** What one round of election does with the lease it read (or did not find). */
export type Decision =
  | { action: 'create' }
  | { action: 'renew' }
  | { action: 'take'; from: string | undefined }
  | { action: 'wait'; holder: string; expiresInMs: number };

const sameRecord = (a: LeaseRecord, b: LeaseRecord) =>
  JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));
const comparable = (record: LeaseRecord) => ({
  holder: record.holderIdentity ?? '',
  duration: record.leaseDurationSeconds ?? 0,
  acquired: record.acquireTime ?? '',
  renewed: record.renewTime ?? '',
  transitions: record.leaseTransitions ?? 0,
});

/** The new observation after reading `record` at `now`: its time moves only when the record changed. */
export function observe(
  previous: Observation | undefined,
  record: LeaseRecord,
  now: number,
): Observation {
  if (previous && sameRecord(previous.record, record)) return previous;
  return { record, at: now };
}

/**
 * client-go's tryAcquireOrRenew, as a pure decision: no lease, create it; our
 * own, renew it; a holder's lease that has not changed for its duration by
 * our clock (or an empty holder: a released lease), take it; else wait.
 */
export function decide(
  observed: Observation | undefined,
  now: number,
  identity: string,
  defaultLeaseSeconds: number,
): Decision {
  if (!observed) return { action: 'create' };
  const holder = observed.record.holderIdentity;
  if (holder === identity) return { action: 'renew' };
  if (!holder) return { action: 'take', from: undefined };
  const durationMs = (observed.record.leaseDurationSeconds ?? defaultLeaseSeconds) * 1000;
  const expiresInMs = observed.at + durationMs - now;
  if (expiresInMs > 0) return { action: 'wait', holder, expiresInMs };
  return { action: 'take', from: holder };
}

/** The record to write for a `create`, `renew` or `take` decision. */
export function nextRecord(
  decision: Decision,
  current: LeaseRecord,
  identity: string,
  leaseDurationSeconds: number,
  now: Date,
): LeaseRecord {
  const stamp = microTime(now);
  if (decision.action === 'renew')
    return { ...current, holderIdentity: identity, leaseDurationSeconds, renewTime: stamp };
  return {
    ...current,
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTime: stamp,
    renewTime: stamp,
    leaseTransitions:
      decision.action === 'create'
        ? 0
        : (current.leaseTransitions ?? 0) +
          (decision.action === 'take' && current.holderIdentity ? 1 : 0),
  };
}

/**
 * Fencing: a leader whose last successful renewal started more than
 * `renewDeadlineMs` ago must stop acting. The deadline is shorter than the
 * lease, so it stops before any standby may take over by its own clock.
 */
export function mustStepDown(lastRenewStartedAt: number, now: number, renewDeadlineMs: number) {
  return now - lastRenewStartedAt >= renewDeadlineMs;
}

/** What a leader writes when it stops cleanly (client-go's ReleaseOnCancel): no holder, a 1 s lease. */
export function releasedRecord(current: LeaseRecord, now: Date): LeaseRecord {
  const stamp = microTime(now);
  return {
    ...current,
    holderIdentity: undefined,
    leaseDurationSeconds: 1,
    acquireTime: stamp,
    renewTime: stamp,
  };
}

export interface LeaderElectionTiming {
  /** How long a standby waits, by its own clock, on a record that does not change. */
  leaseDurationMs: number;
  /** How long the leader keeps acting without a successful renewal. */
  renewDeadlineMs: number;
  /** How often a standby tries to acquire and the leader renews. */
  retryPeriodMs: number;
}

/** client-go's defaults for controllers. */
export const DEFAULT_TIMING: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** The timings client-go accepts: lease > renew deadline > 1.2 × retry period. */
export function checkTiming(timing: LeaderElectionTiming): string | undefined {
  if (timing.leaseDurationMs <= timing.renewDeadlineMs)
    return 'the lease duration must be longer than the renew deadline';
  if (timing.renewDeadlineMs <= 1.2 * timing.retryPeriodMs)
    return 'the renew deadline must be longer than 1.2 times the retry period';
  return undefined;
}

/** Each API call of the elector gives up after this long, so that a renewal cannot outlive its deadline. */
export function electionCallTimeoutMs(timing: LeaderElectionTiming): number {
  return Math.max(500, Math.floor(timing.renewDeadlineMs / 2));
}

/** The Lease calls the elector makes (over the API client, or a test's store). */
export interface LeaseApi {
  read(): Promise<Lease | undefined>;
  create(lease: Lease): Promise<Lease>;
  /** A compare-and-swap on the lease's resourceVersion. */
  replace(lease: Lease): Promise<Lease>;
}

export function leaseApi(client: KubeClient, namespace: string, name: string): LeaseApi {
  const apiVersion = 'coordination.k8s.io/v1';
  const collection = resourcePath(apiVersion, 'Lease', namespace);
  const path = resourcePath(apiVersion, 'Lease', namespace, name);
  const typed = (lease: Lease) => ({ ...lease, apiVersion, kind: 'Lease' });
  return {
    read: () =>
      client.request<Lease>('GET', path).catch((error) => {
        if (isNotFound(error)) return undefined;
        throw error;
      }),
    create: (lease) => client.request('POST', collection, { body: typed(lease) }),
    replace: (lease) => client.request('PUT', path, { body: typed(lease) }),
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  timing?: LeaderElectionTiming;
  log: Logger;
  /**
   * Milliseconds on a clock that never goes back, for every duration the
   * elector measures (performance.now by default): a step of the wall clock
   * neither fences a leader that renews nor keeps one acting that does not.
   */
  clock?: () => number;
}

/**
 * Leader election on a coordination.k8s.io Lease, with client-go's
 * semantics: a standby takes the lease only when the record it observes has
 * not changed for the lease duration by its own clock; the leader renews
 * every retry period and, when it has not renewed for the renew deadline,
 * stops acting (`onLost`) before any standby can consider the lease expired;
 * on a clean stop it releases the lease, so that a standby takes over within
 * a retry period.
 */
export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly options: LeaderElectionOptions & { timing: LeaderElectionTiming };
  private readonly now: () => number;
  private observed: Observation | undefined;
  private leading = false;
  private stopped = false;
  private lastRenewStartedAt = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private onLost: (reason: string) => void = () => {};

  constructor(api: LeaseApi, options: LeaderElectionOptions) {
    this.api = api;
    this.options = { timing: DEFAULT_TIMING, ...options };
    this.now = options.clock ?? (() => performance.now());
  }

  /** Resolves when this replica leads (rejects if stopped first); `onLost` is called if it later stops leading. */
  async acquire(onLost: (reason: string) => void): Promise<void> {
    const { log, name, namespace, identity, timing } = this.options;
    this.onLost = onLost;
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped');
      const started = this.now();
      if (await this.attempt('could not acquire the lease')) {
        this.lastRenewStartedAt = started;
        if (!this.stopped) break;
        // Stopped while the lease was being taken: hand it straight back.
        await this.giveBack();
        throw new Error('leader election stopped');
      }
      // client-go's jitter: standbys do not all retry at the same moment.
      await this.sleep(timing.retryPeriodMs * (1 + 0.2 * Math.random()));
    }
    this.leading = true;
    log.info({ lease: `${namespace}/${name}`, identity }, 'became leader');
    this.armFence();
    this.renewTimer = setTimeout(() => void this.renew(), timing.retryPeriodMs);
  }

  /**
   * Whether this replica leads now, judged by the clock and not only by the
   * fence's timer: after a pause (a long GC, a stopped process) the I/O
   * callbacks of reconciles run before any timer, so a write resumed past
   * the renew deadline would otherwise go out before the fence fires. Past
   * it, leadership is lost here and then.
   */
  isLeader(): boolean {
    this.stepDownIfLate();
    return this.leading;
  }

  /** Stops electing; a leader hands the lease back so that a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.wake?.();
    if (!this.leading) return;
    this.leading = false;
    await this.giveBack();
  }

  /** Clears the holder of a lease this replica holds, with a 1 s duration. */
  private async giveBack(): Promise<void> {
    try {
      const lease = await this.api.read();
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      lease.spec = releasedRecord(lease.spec, new Date());
      await this.api.replace(lease);
      this.options.log.info(
        { lease: `${this.options.namespace}/${this.options.name}` },
        'released the lease',
      );
    } catch (error) {
      this.options.log.warn(
        { err: error },
        'could not release the lease; a standby takes over when it expires',
      );
    }
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.leading) return;
    const started = this.now();
    const ok = await this.attempt('lease renewal failed');
    if (this.stopped || !this.leading) return;
    if (ok) {
      this.lastRenewStartedAt = started;
      this.armFence();
    } else if (this.observed && this.observed.record.holderIdentity !== this.options.identity) {
      return this.lose(`the lease is held by ${this.observed.record.holderIdentity || 'nobody'}`);
    }
    this.renewTimer = setTimeout(() => void this.renew(), this.options.timing.retryPeriodMs);
  }

  /**
   * Fires at the renew deadline unless a renewal succeeds first. A timer may
   * fire a little before its time by the clock (Node schedules it from the
   * event loop's cached time): then it is armed again for what is left.
   */
  private armFence(): void {
    clearTimeout(this.fenceTimer);
    const { renewDeadlineMs } = this.options.timing;
    const remaining = this.lastRenewStartedAt + renewDeadlineMs - this.now();
    this.fenceTimer = setTimeout(
      () => {
        this.stepDownIfLate();
        if (this.leading) this.armFence();
      },
      Math.max(0, remaining),
    );
  }

  /** Loses leadership when the renew deadline has passed by the clock. */
  private stepDownIfLate(): void {
    const { renewDeadlineMs } = this.options.timing;
    if (this.leading && mustStepDown(this.lastRenewStartedAt, this.now(), renewDeadlineMs))
      this.lose(`could not renew the lease within ${renewDeadlineMs} ms`);
  }

  private lose(reason: string): void {
    this.leading = false;
    this.stopped = true;
    this.clearTimers();
    this.options.log.error(
      { lease: `${this.options.namespace}/${this.options.name}`, reason },
      'lost leadership',
    );
    this.onLost(reason);
  }

  private clearTimers(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.fenceTimer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** One round; a failure (error, timeout, lost compare-and-swap) is logged and counts as not leading. */
  private async attempt(failure: string): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === 409) this.options.log.debug('lease changed meanwhile');
      else this.options.log.warn({ err: error }, failure);
      return false;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity, timing } = this.options;
    const leaseSeconds = Math.ceil(timing.leaseDurationMs / 1000);
    const lease = await this.api.read();
    const now = this.now();
    this.observed = lease ? observe(this.observed, lease.spec ?? {}, now) : undefined;
    const decision = decide(this.observed, now, identity, leaseSeconds);
    if (decision.action === 'wait') return false;
    const spec = nextRecord(decision, lease?.spec ?? {}, identity, leaseSeconds, new Date());
    // Without a lease, create it; with one, its resourceVersion makes the replace a compare-and-swap.
    const written = lease
      ? await this.api.replace({ ...lease, spec })
      : await this.api.create({ metadata: { name, namespace }, spec });
    this.observed = { record: written.spec ?? spec, at: this.now() };
    if (decision.action === 'take' && decision.from)
      this.options.log.info({ previous: decision.from }, 'took over an expired lease');
    return true;
  }
}

/** A Lease time as the API server wants it: RFC 3339 with microseconds (milliseconds are refused). */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
