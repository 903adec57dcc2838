import type { V1Secret } from '@kubernetes/client-node';
import type { Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import type { AdminTarget } from './admin.ts';
import { countActions, type ReconcilerDependencies, target } from './context.ts';
import type { StoreOutcome } from './decisions.ts';

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

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
  }

  abstract provision(step: StoreStep): Promise<StoreOutcome>;

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
  /** Forgets what is kept about an instance that is gone. */
  abstract forget(key: string): void;

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
