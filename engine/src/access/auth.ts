import { createHash, timingSafeEqual } from 'node:crypto';
import type { RateLimit } from './limits.ts';

/** What a token lets its bearer do: `read` (GET routes, read RPCs) or `trade` (everything). */
export type Grant = 'read' | 'trade';

/** Whether a request may go on, and if not, why. */
export type Admission =
  | { ok: true }
  | { ok: false; reason: 'unauthenticated' | 'forbidden' }
  | { ok: false; reason: 'rate_limited'; retryAfterSeconds: number };

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The token in `Bearer <token>`, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  return match?.[1];
}

/**
 * The engine's bearer tokens and what each grants. Tokens are compared by
 * their SHA-256 digests with timingSafeEqual, against every configured token,
 * so neither a token's length nor its first differing character shows in the
 * time an answer takes. Without a trading token the API is open.
 */
export class Access {
  private readonly tokens: { grant: Grant; digest: Buffer }[];
  private readonly rateLimit: RateLimit;

  constructor(
    tokens: { trade?: string | undefined; read?: string | undefined },
    rateLimit: RateLimit,
  ) {
    this.tokens = [
      ...(tokens.trade ? [{ grant: 'trade' as const, digest: sha256(tokens.trade) }] : []),
      ...(tokens.read ? [{ grant: 'read' as const, digest: sha256(tokens.read) }] : []),
    ];
    this.rateLimit = rateLimit;
  }

  /** True when no token is configured: every caller may do everything. */
  get open(): boolean {
    return this.tokens.length === 0;
  }

  /** The grant of the token in an Authorization value, or undefined for none or an unknown one. */
  grantOf(authorization: string | undefined): Grant | undefined {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    const presented = sha256(token);
    let grant: Grant | undefined;
    for (const known of this.tokens)
      if (timingSafeEqual(presented, known.digest)) grant = grant ?? known.grant;
    return grant;
  }

  /**
   * Decides a request needing `needs`: first the rate limit of its client
   * (its address, and its grant when its token is valid: clients sharing a
   * token do not share an allowance, and guessing tokens does not escape the
   * address's), then its credentials.
   */
  async admit(authorization: string | undefined, peer: string, needs: Grant): Promise<Admission> {
    const grant = this.open ? undefined : this.grantOf(authorization);
    const retryAfterSeconds = await this.rateLimit.take(
      grant ? `token:${grant}:${peer}` : `peer:${peer}`,
    );
    if (retryAfterSeconds !== undefined)
      return { ok: false, reason: 'rate_limited', retryAfterSeconds };
    if (this.open) return { ok: true };
    if (!grant) return { ok: false, reason: 'unauthenticated' };
    if (needs === 'trade' && grant !== 'trade') return { ok: false, reason: 'forbidden' };
    return { ok: true };
  }
}

/** What a refused request is told; never the token, never which tokens exist. */
export const REFUSALS = {
  unauthenticated: 'a valid bearer token is required (Authorization: Bearer <token>)',
  forbidden: 'this token may only read; this operation needs the trading token',
  rate_limited: 'too many requests from this client',
} as const;
