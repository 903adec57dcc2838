import { StoreTimeoutError, StoreUnavailableError } from '../../errors.ts';

// SQLSTATEs: lock_not_available (lock_timeout) and query_canceled (statement_timeout).
const TIMEOUTS = new Set(['55P03', '57014']);
// Connection failures reported as SQLSTATEs by a server that is going away.
const UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006']);

// The driver's own: the connection broke, or the server stopped answering (query_timeout).
const LOST = /Connection terminated|Query read timeout/;

/** A driver error as the typed error callers branch on; anything else unchanged. */
export function classifyPostgresError(error: unknown): unknown {
  const code = (error as { code?: string } | undefined)?.code;
  if (code && TIMEOUTS.has(code)) return new StoreTimeoutError('postgres', error);
  if (code && UNAVAILABLE.has(code)) return new StoreUnavailableError('postgres', error);
  if (LOST.test((error as Error | undefined)?.message ?? ''))
    return new StoreUnavailableError('postgres', error);
  return error;
}

/** True for the error two transactions get when they rewrite one catalog row at once. */
export function isConcurrentCatalogUpdate(error: unknown): boolean {
  return /tuple concurrently (updated|deleted)/.test((error as Error | undefined)?.message ?? '');
}
