import { deriveIdentity } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import type { ReconcilerDependencies } from '../src/controller/context.ts';
import type { StoreOutcome } from '../src/controller/decisions.ts';
import { type StoreStep, StoreTenants } from '../src/controller/stores.ts';
import { instance } from './fixtures.ts';

/** A store whose provisioning only counts its calls and says what it is told to. */
class CountingTenants extends StoreTenants {
  protected readonly store = 'redis';
  calls = 0;
  next: StoreOutcome = { ok: true, message: 'verified', actions: 0 };

  protected async provisionTenant(): Promise<StoreOutcome> {
    this.calls++;
    return this.next;
  }

  protected async tenantInputs(step: StoreStep) {
    return { password: step.secret.data?.password };
  }

  protected async releaseTenant() {
    return { actions: [], message: '' };
  }
}

const RESYNC_MS = 10_000;

function setup() {
  let clock = 0;
  const deps = { resyncMs: RESYNC_MS, now: () => new Date(clock) } as ReconcilerDependencies;
  const tenants = new CountingTenants(deps);
  const step = (password = 'p', generation = 1): StoreStep => {
    const tei = instance('alpha');
    tei.metadata.generation = generation;
    return {
      instance: tei,
      identity: deriveIdentity({ instanceName: 'alpha' }),
      admin: { url: 'redis://r:6379', tls: { mode: 'disable' }, storeKey: 'r:6379' },
      secret: { data: { password } },
    };
  };
  return { tenants, step, advance: (ms: number) => (clock += ms) };
}

describe('a verified tenant', () => {
  it('is not looked at again by the reconciles between resyncs', async () => {
    const { tenants, step, advance } = setup();
    await tenants.provision(step());
    advance(1000);
    expect(await tenants.provision(step())).toMatchObject({ ok: true, message: 'verified' });
    expect(tenants.calls).toBe(1);
  });

  it('is looked at again at every resync, whatever its jitter', async () => {
    const { tenants, step, advance } = setup();
    await tenants.provision(step());
    advance(RESYNC_MS * 0.9);
    await tenants.provision(step());
    expect(tenants.calls).toBe(2);
  });

  it('is looked at again when its password or the spec changes, or when told to', async () => {
    const { tenants, step } = setup();
    await tenants.provision(step());
    await tenants.provision(step('rotated'));
    await tenants.provision(step('rotated', 2));
    expect(tenants.calls).toBe(3);
    tenants.forget('trading/alpha');
    await tenants.provision(step('rotated', 2));
    expect(tenants.calls).toBe(4);
  });

  it('is not remembered when provisioning failed', async () => {
    const { tenants, step } = setup();
    tenants.next = { ok: false, reason: 'RedisUnavailable', message: 'down', retry: true };
    await tenants.provision(step());
    await tenants.provision(step());
    expect(tenants.calls).toBe(2);
  });
});
