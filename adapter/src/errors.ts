/**
 * Errors with a class and a code: callers branch on `code`, people read `message`.
 * Expected failures (invalid input, a store that is down, a name conflict) are
 * typed here; anything else is wrapped with its `cause`.
 */
export abstract class TseError extends Error {
  abstract readonly code: string;
  override readonly name: string = this.constructor.name;
}

/** An input that breaks a rule: names the field, the value and the rule. */
export class ValidationError extends TseError {
  readonly code = 'INVALID_VALUE';
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;

  constructor(field: string, value: unknown, rule: string) {
    super(`${field} ${JSON.stringify(value)} is invalid: ${rule}`);
    this.field = field;
    this.value = value;
    this.rule = rule;
  }
}

/**
 * A change a `WriteFence` held back: the caller may no longer act (an
 * operator replica that no longer leads). Not a store failure: nothing was
 * sent, and it is passed on as it is.
 */
export class FencedError extends TseError {
  readonly code = 'FENCED';
}

/** A store (PostgreSQL or Redis) could not be reached or refused the connection. */
export class StoreUnavailableError extends TseError {
  readonly code = 'STORE_UNAVAILABLE';
  readonly store: 'postgres' | 'redis';

  constructor(store: 'postgres' | 'redis', cause: unknown) {
    super(`${store} is unavailable: ${describeCause(cause)}`, { cause });
    this.store = store;
  }
}

/** An object exists in a store under our name but was not created by us. */
export class OwnershipError extends TseError {
  readonly code = 'NOT_OWNED';
}

/**
 * Another owner claimed the same or an overlapping name at the same moment:
 * this claim was refused before anything was changed; retried.
 */
export class ClaimConflictError extends TseError {
  readonly code = 'CLAIM_CONFLICT';
}

/** A store statement waited longer than its lock or statement timeout: retried later. */
export class StoreTimeoutError extends TseError {
  readonly code = 'STORE_TIMEOUT';
  readonly store: 'postgres' | 'redis';

  constructor(store: 'postgres' | 'redis', cause: unknown) {
    super(`${store} did not answer in time (a lock is held elsewhere): ${describeCause(cause)}`, {
      cause,
    });
    this.store = store;
  }
}

/** The store refused the admin connection's credentials (the admin Secret's): retried, as a Secret may be fixed. */
export class AdminAuthenticationError extends TseError {
  readonly code = 'ADMIN_AUTHENTICATION';
  readonly store: 'postgres' | 'redis';

  constructor(store: 'postgres' | 'redis', cause: unknown) {
    super(
      `${store} refused the admin credentials: ${describeCause(cause)}; check the admin Secret`,
      { cause },
    );
    this.store = store;
  }
}

/** The admin connection lacks a privilege provisioning needs; the message lists what is missing. */
export class AdminCapabilityError extends TseError {
  readonly code = 'ADMIN_CAPABILITY';
}

/** Applying a plan did not reach the desired state: something outside the plan undoes it. */
export class ConvergenceError extends TseError {
  readonly code = 'NOT_CONVERGED';
}

/** The message of an unknown thrown value, for logs and conditions. */
export function describeCause(cause: unknown): string {
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return cause.errors.map(describeCause).join('; ');
  }
  if (cause instanceof Error) return cause.message || cause.name;
  return String(cause);
}
