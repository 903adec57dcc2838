import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * How much one request may carry. The largest legitimate body (a strategy with
 * 100 instruments and 4 KiB of parameters) is well under 16 KiB; anything
 * bigger is refused before it is parsed: HTTP 413, gRPC RESOURCE_EXHAUSTED.
 */
export const HTTP_BODY_LIMIT_BYTES = 64 * 1024;
export const GRPC_MAX_RECEIVE_BYTES = 64 * 1024;

/**
 * Per-client request rate: one bucket per address and grant for a valid
 * token (clients that share the instance's token each have their own), one
 * per address without one (which is where guessing tokens would come from).
 * `perSecond` 0 turns it off.
 */
export class RateLimit {
  private readonly limiter: RateLimiterMemory | undefined;

  constructor(perSecond: number) {
    this.limiter =
      perSecond > 0 ? new RateLimiterMemory({ points: perSecond, duration: 1 }) : undefined;
  }

  /** Takes one request from the client's bucket: undefined when allowed, else the seconds to wait. */
  async take(client: string): Promise<number | undefined> {
    if (!this.limiter) return undefined;
    try {
      await this.limiter.consume(client);
      return undefined;
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      return Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
    }
  }
}

/** Counts streams open at once and refuses one beyond `max`. */
export class StreamGate {
  private open = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Opens a stream: a release function (safe to call more than once), or undefined when full. */
  tryOpen(): (() => void) | undefined {
    if (this.open >= this.max) return undefined;
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }

  count(): number {
    return this.open;
  }
}

/** The address part of a peer (`127.0.0.1:5123`, `[::1]:5123`, `ipv4:10.0.0.1:80`). */
export function peerAddress(peer: string): string {
  const withoutScheme = peer.replace(/^ipv[46]:/, '');
  const port = withoutScheme.lastIndexOf(':');
  const host =
    port > 0 && !withoutScheme.endsWith(']') ? withoutScheme.slice(0, port) : withoutScheme;
  return host.replace(/^\[(.*)\]$/, '$1');
}
