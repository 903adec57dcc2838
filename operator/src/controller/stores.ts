import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import type { AdminTarget } from './admin.ts';
import { countActions, now, type ReconcilerDependencies, target } from './context.ts';
import type { StoreOutcome } from './decisions.ts';
import { keyOf } from './identity.ts';

/** What a store step is about: the instance, its names, its store's admin connection and Secret. */
export interface StoreStep<S = V1Secret> {
  instance: TradingEngineInstance;
  identity: Identity;
  admin: AdminTarget;
  secret: S;
}

/**
 * What postgres.ts and redis.ts have in common: provisioning an instance's
 * tenant (an outcome for its condition), releasing it on deletion (what was
 * done, for people; throws what stops it), and what is told about it.
 */
export abstract class StoreTenants {
  protected readonly deps: ReconcilerDependencies;
  protected abstract readonly store: 'postgres' | 'redis';
  /** Per instance, the tenant last provisioned and verified: what was asked, when, and what it came to. */
  private readonly verified = new Map<
    string,
    { inputs: string; at: number; outcome: StoreOutcome }
  >();

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
  }

  /**
   * Provisions the instance's tenant and checks its login, unless the same
   * tenant (same names, password, server, spec generation) was verified
   * within most of a resync period: then what that check came to. Most
   * reconciles are about pods (one became ready, the lock is still free,
   * every second while standbys wait for it), and the store has not changed
   * for them; it is looked at again at the resync, on a spec or Secret
   * change, and at once when a Redis comes back (`forget`).
   */
  async provision(step: StoreStep): Promise<StoreOutcome> {
    const key = keyOf(step.instance);
    // Inputs that cannot be worked out (a store down, a name refused) are for provisioning to report.
    const inputs = await this.inputsOf(step).catch(() => undefined);
    const at = now(this.deps).getTime();
    const last = this.verified.get(key);
    const fresh = last !== undefined && at - last.at < this.deps.resyncMs * VERIFIED_FOR;
    if (fresh && inputs !== undefined && last.inputs === inputs) return last.outcome;
    const outcome = await this.provisionTenant(step);
    // Recalled, it did nothing: no actions.
    if (outcome.ok && inputs !== undefined)
      this.verified.set(key, { inputs, at, outcome: { ...outcome, actions: 0 } });
    else this.verified.delete(key);
    return outcome;
  }

  /** Observes, plans, applies, and logs in with the issued password. */
  protected abstract provisionTenant(step: StoreStep): Promise<StoreOutcome>;
  /** Everything the tenant's provisioning depends on but the server and the spec generation. */
  protected abstract tenantInputs(step: StoreStep): Promise<unknown>;

  private async inputsOf(step: StoreStep): Promise<string> {
    const inputs = {
      tenant: await this.tenantInputs(step),
      admin: step.admin,
      generation: step.instance.metadata.generation,
    };
    return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
  }

  /** Forgets what is kept about an instance: it is gone, or its store must be looked at again. */
  forget(key: string): void {
    this.verified.delete(key);
  }

  /**
   * Deletion, by the store's deletion policy. Returns what was done, for
   * people; throws what stops it (an OwnershipError when the server says the
   * names are someone else's).
   */
  async release(step: StoreStep<V1Secret | undefined>): Promise<string> {
    const remove = step.instance.spec[this.store].deletionPolicy === 'Delete';
    const { actions, message } = await this.releaseTenant(step, remove);
    this.done(step.instance, actions);
    return message;
  }

  /** Delete removes the tenant (and its data); otherwise its login is disabled and its data kept. */
  protected abstract releaseTenant(
    step: StoreStep<V1Secret | undefined>,
    remove: boolean,
  ): Promise<{ actions: { type: string }[]; message: string }>;

  /** Counts what a step did, and tells of it in a Normal Event when it did anything. */
  protected done(
    instance: TradingEngineInstance,
    actions: { type: string }[],
    event?: { reason: string; message: (types: string) => string },
  ): void {
    countActions(this.deps.metrics, this.store, actions);
    if (event && actions.length > 0)
      this.deps.events.record(
        target(instance),
        'Normal',
        event.reason,
        event.message(actions.map((action) => action.type).join(', ')),
      );
  }
}

/**
 * The share of the resync period a verified tenant is taken as it was: less
 * than the resync's earliest jitter (0.9), so every resync looks again.
 */
const VERIFIED_FOR = 0.8;

/** The outcome of a login check with the issued password. */
export function loginOutcome(
  store: 'Postgres' | 'Redis',
  who: string,
  login: { ok: true } | { ok: false; reason: string },
): (StoreOutcome & { ok: false }) | undefined {
  if (login.ok) return undefined;
  return {
    ok: false,
    reason: `${store}LoginFailed`,
    message: `login as ${who} failed: ${login.reason}`,
    retry: true,
  };
}
