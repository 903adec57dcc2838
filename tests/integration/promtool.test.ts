import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createControllerMetrics } from '@tse/operator';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';
import { type EngineProcess, startEngineProcess } from '../support/engine-process.ts';

const rules = fileURLToPath(
  new URL('../../helm/trading-engine-operator/files/prometheus-rules.yaml', import.meta.url),
);
const ruleTests = fileURLToPath(new URL('../prometheus/rules.test.yaml', import.meta.url));

function promtool(args: string[], input?: string) {
  const result = spawnSync(cachedBinary('promtool'), args, { input, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const running: EngineProcess[] = [];
afterAll(async () => {
  for (const engine of running) await engine.signal('SIGTERM');
});

describe('promtool', () => {
  it('finds nothing to lint in the metrics of a running engine', async () => {
    const engine = await startEngineProcess({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' });
    running.push(engine);
    const text = await (await fetch(`${engine.managementUrl}/metrics`)).text();
    expect(text).toContain('engine_active{');
    expect(promtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });
  });

  it("finds nothing to lint in the operator's metrics", async () => {
    const text = await createControllerMetrics().registry.metrics();
    expect(text).toContain('controller_runtime_reconcile_errors_total');
    expect(promtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });
  });

  it("accepts the chart's alerting rules", () => {
    const result = promtool(['check', 'rules', rules]);
    expect(result.output).toMatch(/SUCCESS: 6 rules found/);
    expect(result.status).toBe(0);
  });

  it('passes the unit tests of the alerts (engine down, store down, no active engine, reconcile errors)', () => {
    const result = promtool(['test', 'rules', ruleTests]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.status).toBe(0);
  });
});
