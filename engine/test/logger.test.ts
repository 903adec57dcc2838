import { describe, expect, it } from 'vitest';
import { startEngine } from '../src/engine.ts';
import { bearer, config, logLines, TOKENS } from './helpers.ts';

describe('the engine log', () => {
  it('carries the identity on every line of a run', async () => {
    const log = logLines();
    const engine = await startEngine(
      config({
        SERVICE_INSTANCE_NAME: 'trading-system-engine-Alpha',
        ENVIRONMENT: 'testing',
        LOG_LEVEL: 'debug',
      }),
      {
        host: '127.0.0.1',
        logDestination: log.stream,
      },
    );
    await fetch(`http://127.0.0.1:${engine.ports.http}/api/v1/health`);
    await fetch(`http://127.0.0.1:${engine.ports.http}/api/v1/orders`, {
      method: 'POST',
      headers: { authorization: bearer(TOKENS.trade) },
    });
    await engine.stop();
    expect(log.lines.length).toBeGreaterThan(4);
    for (const line of log.lines) {
      expect(line).toMatchObject({
        service_name: 'trading-system-engine',
        instance_name: 'trading-system-engine-Alpha',
        environment: 'testing',
      });
    }
    expect(log.lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['engine trading-system-engine-Alpha started', 'shut down']),
    );
  });
});
