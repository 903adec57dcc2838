import { Writable } from 'node:stream';
import { type EngineConfig, loadConfig } from '../src/config.ts';

/** An engine configuration from a few variables, ports picked by the system. */
export function config(env: Record<string, string> = {}): EngineConfig {
  return loadConfig({ HTTP_PORT: '0', GRPC_PORT: '0', ...env });
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
