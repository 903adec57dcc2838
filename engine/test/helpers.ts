import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { type EngineConfig, loadConfig } from '../src/config.ts';

/** The tokens test engines are configured with: the trading grant's and the read-only one's. */
export const TOKENS = {
  trade: 'trade-token-0123456789abcdef0123456789abcdef',
  read: 'read-token-0123456789abcdef0123456789abcdef',
} as const;

/** The Authorization header value for a token. */
export const bearer = (token: string) => `Bearer ${token}`;

/** A gRPC client interceptor that sends the token in the `authorization` metadata. */
export const withToken =
  (token: string): grpc.Interceptor =>
  (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, start) {
        metadata.set('authorization', bearer(token));
        start(metadata, listener);
      },
    });

/**
 * An engine configuration from a few variables, ports picked by the system,
 * both tokens set (pass `API_TOKEN: ''` and `API_READ_TOKEN: ''` for an open engine).
 */
export function config(env: Record<string, string> = {}): EngineConfig {
  return loadConfig({
    HTTP_PORT: '0',
    GRPC_PORT: '0',
    MANAGEMENT_PORT: '0',
    API_TOKEN: TOKENS.trade,
    API_READ_TOKEN: TOKENS.read,
    ...env,
  });
}

/** A log destination that keeps every JSON line it is given. */
export function logLines(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines };
}
