/** Capped exponential backoff with jitter, as client-go's wait.Backoff does it. */
export interface BackoffPolicy {
  /** The first delay (ms). */
  initialMs: number;
  /** No delay is longer than this (ms), jitter included. */
  capMs: number;
  /** Up to this fraction of the delay is added at random, so that replicas do not retry in step. */
  jitter: number;
}

/** The reflector's policy: 800 ms doubling to 30 s, like client-go's list-and-watch restarts. */
export const WATCH_BACKOFF: BackoffPolicy = { initialMs: 800, capMs: 30_000, jitter: 0.5 };

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.initialMs * 2 ** Math.min(attempt, 30), policy.capMs);
  const spread = 1 + policy.jitter * random();
  // Past the cap the jitter spreads the delays below it, rather than every key retrying at it.
  const delay =
    base * spread <= policy.capMs ? base * spread : (policy.capMs / (1 + policy.jitter)) * spread;
  return Math.round(delay);
}
