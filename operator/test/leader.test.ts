import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  checkTiming,
  DEFAULT_TIMING,
  decide,
  electionCallTimeoutMs,
  LeaderElector,
  type Lease,
  type LeaseApi,
  type LeaseRecord,
  mustStepDown,
  nextRecord,
  observe,
  releasedRecord,
} from '../src/runtime/leader.ts';

const other: LeaseRecord = {
  holderIdentity: 'b',
  leaseDurationSeconds: 15,
  renewTime: '2020-01-01T00:00:00.000000Z',
  leaseTransitions: 3,
};

describe('leader election decisions', () => {
  it('creates a lease that does not exist', () => {
    expect(decide(undefined, 0, 'a', 15)).toEqual({ action: 'create' });
  });

  it("waits on another holder's lease until it has not changed for its duration by our own clock", () => {
    // The holder's renewTime is years old by our clock: irrelevant, only when we saw it change counts.
    const seen = observe(undefined, other, 1_000_000);
    expect(decide(seen, 1_000_000, 'a', 15)).toEqual({
      action: 'wait',
      holder: 'b',
      expiresInMs: 15_000,
    });
    expect(decide(seen, 1_014_999, 'a', 15).action).toBe('wait');
    expect(decide(seen, 1_015_000, 'a', 15)).toEqual({ action: 'take', from: 'b' });
  });

  it('restarts the wait whenever the record changes (the holder renews)', () => {
    const first = observe(undefined, other, 0);
    expect(observe(first, { ...other }, 10_000)).toBe(first);
    const renewed = observe(first, { ...other, renewTime: '2020-01-01T00:00:02.000000Z' }, 10_000);
    expect(renewed.at).toBe(10_000);
    expect(decide(renewed, 20_000, 'a', 15).action).toBe('wait');
    expect(decide(renewed, 25_000, 'a', 15).action).toBe('take');
  });

  it('renews its own lease and takes a released one at once', () => {
    expect(decide(observe(undefined, { ...other, holderIdentity: 'a' }, 0), 0, 'a', 15)).toEqual({
      action: 'renew',
    });
    const released = releasedRecord(other, new Date());
    expect(released).toMatchObject({ holderIdentity: undefined, leaseDurationSeconds: 1 });
    expect(decide(observe(undefined, released, 0), 0, 'a', 15)).toEqual({
      action: 'take',
      from: undefined,
    });
  });

  it('writes a transition when taking over, none when renewing', () => {
    const now = new Date('2026-01-01T00:00:00.123Z');
    const taken = nextRecord({ action: 'take', from: 'b' }, other, 'a', 15, now);
    expect(taken).toMatchObject({
      holderIdentity: 'a',
      leaseTransitions: 4,
      leaseDurationSeconds: 15,
    });
    expect(String(taken.acquireTime)).toBe('2026-01-01T00:00:00.123000Z');
    const renewed = nextRecord({ action: 'renew' }, taken, 'a', 15, new Date(now.getTime() + 2000));
    expect(renewed.leaseTransitions).toBe(4);
    expect(renewed.acquireTime).toBe(taken.acquireTime);
    expect(String(renewed.renewTime)).toBe('2026-01-01T00:00:02.123000Z');
  });

  it('fences a leader that has not renewed within the renew deadline', () => {
    expect(mustStepDown(0, 9_999, 10_000)).toBe(false);
    expect(mustStepDown(0, 10_000, 10_000)).toBe(true);
  });

  it("accepts client-go's timings and refuses inconsistent ones", () => {
    expect(checkTiming(DEFAULT_TIMING)).toBeUndefined();
    expect(checkTiming({ ...DEFAULT_TIMING, renewDeadlineMs: 15_000 })).toMatch(/lease duration/);
    expect(checkTiming({ ...DEFAULT_TIMING, retryPeriodMs: 9_000 })).toMatch(/retry period/);
    expect(electionCallTimeoutMs(DEFAULT_TIMING)).toBeLessThan(DEFAULT_TIMING.renewDeadlineMs);
  });
});

/** A Lease store with the API server's compare-and-swap on resourceVersion. */
function fakeLeases() {
  let stored: Lease | undefined;
  let version = 0;
  const state = { failing: false, stored: () => stored };
  const copy = (lease: Lease) => JSON.parse(JSON.stringify(lease)) as Lease;
  const guard = () => {
    if (state.failing) return Promise.reject(new Error('unreachable'));
    return undefined;
  };
  const api: LeaseApi = {
    read: async () => {
      await guard();
      return stored && copy(stored);
    },
    create: async (lease) => {
      await guard();
      if (stored) throw Object.assign(new Error('exists'), { code: 409 });
      stored = {
        ...copy(lease),
        metadata: { ...lease.metadata, resourceVersion: String(++version) },
      };
      return copy(stored);
    },
    replace: async (lease) => {
      await guard();
      if (lease.metadata?.resourceVersion !== stored?.metadata?.resourceVersion)
        throw Object.assign(new Error('conflict'), { code: 409 });
      stored = {
        ...copy(lease),
        metadata: { ...lease.metadata, resourceVersion: String(++version) },
      };
      return copy(stored);
    },
  };
  return { api, state };
}

const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 600, retryPeriodMs: 100 };
const log = pino({ level: 'silent' });
const elector = (api: LeaseApi, identity: string, clock?: () => number) =>
  new LeaderElector(api, { namespace: 'ns', name: 'lease', identity, timing, log, clock });

describe('LeaderElector', () => {
  it('leads alone, keeps a standby waiting while it renews, and hands over on release', async () => {
    const { api, state } = fakeLeases();
    const a = elector(api, 'a');
    await a.acquire(() => {
      throw new Error('a should not lose');
    });
    expect(a.isLeader()).toBe(true);
    const b = elector(api, 'b');
    let bLeads = false;
    const bAcquired = b
      .acquire(() => {})
      .then(() => {
        bLeads = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(bLeads).toBe(false);
    expect(state.stored()?.spec?.holderIdentity).toBe('a');

    const released = Date.now();
    await a.release();
    expect(a.isLeader()).toBe(false);
    await bAcquired;
    expect(Date.now() - released).toBeLessThan(timing.retryPeriodMs * 3);
    expect(state.stored()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 0 });
    await b.release();
    expect(state.stored()?.spec).toMatchObject({ leaseDurationSeconds: 1 });
    expect(state.stored()?.spec?.holderIdentity).toBeUndefined();
  });

  it('stops leading when it cannot renew within the renew deadline', async () => {
    const { api, state } = fakeLeases();
    const a = elector(api, 'a');
    const lost = new Promise<{ reason: string; at: number }>((resolve) =>
      a.acquire((reason) => resolve({ reason, at: Date.now() })),
    );
    // Leading first (polled: a busy machine may take longer than a retry period).
    while (!a.isLeader()) await new Promise((resolve) => setTimeout(resolve, 20));
    state.failing = true;
    const cut = Date.now();
    const { reason, at } = await lost;
    expect(reason).toMatch(/within 600 ms/);
    expect(a.isLeader()).toBe(false);
    // Fenced about the renew deadline after the last renewal (timers may run late on a busy
    // machine), long before the lease could expire.
    expect(at - cut).toBeLessThan(timing.leaseDurationMs);
  }, 20_000);

  it('fences at the deadline by its clock even when a timer fires before it', async () => {
    // A clock that stands still until told: every timer fires "before its time" by it, as
    // Node's timers may (scheduled from the event loop's cached time).
    let clock = 0;
    const { api, state } = fakeLeases();
    const a = elector(api, 'a', () => clock);
    let lost: string | undefined;
    await a.acquire((reason) => {
      lost = reason;
    });
    state.failing = true;
    await new Promise((resolve) => setTimeout(resolve, timing.renewDeadlineMs * 2));
    // Not yet past the deadline by the clock: still leading, its fence still armed.
    expect(lost).toBeUndefined();
    expect(a.isLeader()).toBe(true);
    clock = timing.renewDeadlineMs;
    // Within a deadline or so (the fence armed again), on a machine as busy as it may be.
    await vi.waitFor(() => expect(lost).toMatch(/within 600 ms/), { timeout: 5_000 });
    expect(a.isLeader()).toBe(false);
  }, 20_000);

  it('stops leading the moment it is asked past the deadline, before its fence timer runs', async () => {
    let clock = 0;
    const { api } = fakeLeases();
    const a = elector(api, 'a', () => clock);
    const lost: string[] = [];
    await a.acquire((reason) => lost.push(reason));
    // A pause (GC, SIGSTOP) ends: I/O callbacks ask before any timer has run.
    clock = timing.renewDeadlineMs;
    expect(a.isLeader()).toBe(false);
    expect(lost).toEqual([`could not renew the lease within ${timing.renewDeadlineMs} ms`]);
    expect(a.isLeader()).toBe(false);
    expect(lost).toHaveLength(1);
  });

  it('takes an expired lease only after the lease duration by its own clock', async () => {
    const { api, state } = fakeLeases();
    const dead = elector(api, 'dead');
    await dead.acquire(() => {});
    // The holder stops renewing without releasing (killed): its record no longer changes.
    await dead.release().catch(() => {});
    const stored = state.stored() as Lease;
    stored.spec = { ...stored.spec, holderIdentity: 'dead', leaseDurationSeconds: 1 };
    const b = elector(api, 'b');
    const started = Date.now();
    await b.acquire(() => {});
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1_000);
    // Soon after (retry periods, and timers running late on a busy machine), not a lease later.
    expect(waited).toBeLessThan(1_000 + timing.leaseDurationMs);
    expect(state.stored()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.release();
  });
});
