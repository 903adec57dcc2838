import { describeCause, StoreUnavailableError, TseError, ValidationError } from '@tse/adapter';
import type { ConditionInput } from './conditions.ts';

// Small pure decisions: each turns what was observed into a condition with a
// reason and a message for people.

/** DatabaseReady / CacheReady from a provisioning step's outcome. */
export function storeCondition(
  type: 'DatabaseReady' | 'CacheReady',
  store: string,
  outcome: StoreOutcome,
): ConditionInput {
  if (outcome.ok) {
    return { type, status: 'True', reason: 'Provisioned', message: outcome.message };
  }
  return { type, status: 'False', reason: outcome.reason, message: `${store}: ${outcome.message}` };
}

/** What provisioning one store came to. */
export type StoreOutcome =
  | { ok: true; message: string; actions: number }
  | { ok: false; reason: string; message: string; retry: boolean };

/** Classifies a provisioning failure: expected ones get a reason, anything else is wrapped. */
export function storeFailure(
  error: unknown,
  store: 'postgres' | 'redis',
): StoreOutcome & { ok: false } {
  const label = store === 'postgres' ? 'Postgres' : 'Redis';
  if (error instanceof StoreUnavailableError)
    return { ok: false, reason: `${label}Unavailable`, message: error.message, retry: true };
  if (error instanceof ValidationError)
    return { ok: false, reason: 'InvalidSpec', message: error.message, retry: false };
  if (error instanceof TseError)
    return {
      ok: false,
      reason: `${label}${pascal(error.code)}`,
      message: error.message,
      retry: error.code !== 'NOT_OWNED',
    };
  return { ok: false, reason: `${label}Error`, message: describeCause(error), retry: true };
}

/** Ready: everything else True; otherwise the first thing that is not, as the reason. */
export function readyCondition(conditions: ConditionInput[]): ConditionInput {
  const blocking = conditions.find(
    (condition) => condition.type !== 'Paused' && condition.status !== 'True',
  );
  if (!blocking)
    return {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: 'stores provisioned, credentials verified, engine available',
    };
  return { type: 'Ready', status: 'False', reason: blocking.reason, message: blocking.message };
}

function pascal(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
