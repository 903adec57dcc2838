/**
 * Whether this replica may act now: the leader elector's `isLeader`, which
 * judges the renew deadline by the clock at the moment of asking. Absent
 * when there is no election (one replica acts alone).
 */
export type Leading = () => boolean;

/** A write held back because this replica no longer leads. */
export class NotLeadingError extends Error {
  constructor(what: string) {
    super(`not the leader any more: ${what} not sent`);
    this.name = 'NotLeadingError';
  }
}

/**
 * Throws before a write when leadership is gone. The elector's fence timer
 * stops the replica too, but after a pause (a long GC, a stopped process)
 * the I/O callbacks of running reconciles come before any timer: this check
 * is what keeps their next write from going out.
 */
export function assertLeading(leading: Leading | undefined, what: string): void {
  if (leading && !leading()) throw new NotLeadingError(what);
}
