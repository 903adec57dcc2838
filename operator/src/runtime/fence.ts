import { FencedError, type WriteFence } from '@tse/adapter';

/** A write held back because this replica no longer leads. */
export class NotLeadingError extends FencedError {
  constructor(what: string) {
    super(`not the leader any more: ${what} not sent`);
  }
}

/**
 * The check made right before each write leaves the process (a Kubernetes
 * request, a PostgreSQL COMMIT, a Redis command that writes): it throws
 * once `isLeader`, which judges the renew deadline by the clock at that
 * moment, says this replica no longer leads. The elector's fence timer
 * stops the replica too, but after a pause (a long GC, a stopped process)
 * the I/O callbacks of running reconciles come before any timer: this check
 * keeps their writes from going out. Undefined without an election.
 */
export function writeFence(isLeader: (() => boolean) | undefined): WriteFence | undefined {
  if (!isLeader) return undefined;
  return (what) => {
    if (!isLeader()) throw new NotLeadingError(what);
  };
}
