import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EngineProcess, startEngineProcess } from '../support/engine-process.ts';
import { adminQuery, uniquePrefix } from '../support/fixtures.ts';
import { waitFor } from '../support/processes.ts';
import {
  type EndpointTarget,
  type PrometheusServer,
  type Sample,
  serviceMonitorScrapeJob,
  startPrometheus,
} from '../support/prometheus.ts';

const dashboard = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('../../examples/grafana-dashboard.json', import.meta.url)),
    'utf8',
  ),
) as {
  templating: { list: { name: string; query?: { query: string } }[] };
  panels: { title: string; targets?: { expr: string }[] }[];
};

const lh = `trading-system-engine-${uniquePrefix()}-LH`;
const alpha = `trading-system-engine-${uniquePrefix()}-Alpha`;
const engines: { engine: EngineProcess; target: EndpointTarget }[] = [];
let prometheus: PrometheusServer;

/**
 * An engine pod as a ServiceMonitor sees it: the Service is named after the
 * instance, and /metrics is on its management port, which needs no token.
 */
async function enginePod(instance: string, pod: string, env: Record<string, string> = {}) {
  const engine = await startEngineProcess({ SERVICE_INSTANCE_NAME: instance, ...env });
  const target: EndpointTarget = {
    address: new URL(engine.managementUrl).host,
    namespace: 'trading',
    service: instance.toLowerCase(),
    pod,
    container: 'engine',
    port: 'management',
  };
  engines.push({ engine, target });
}

beforeAll(async () => {
  // LH runs an active engine and a hot standby contending for the same lock;
  // Alpha runs on in-memory stores, where there is nothing to contend for.
  const lock = { POSTGRES_URL: inject('postgresUrl'), POSTGRES_SCHEMA: `${uniquePrefix()}_lh` };
  // The operator would have provisioned the schema; the instance lock lives in it.
  await adminQuery(inject('postgresUrl'), `CREATE SCHEMA IF NOT EXISTS "${lock.POSTGRES_SCHEMA}"`);
  await enginePod(lh, 'lh-0', lock);
  await enginePod(lh, 'lh-1', lock);
  await enginePod(alpha, 'alpha-0');
  prometheus = await startPrometheus([
    serviceMonitorScrapeJob(
      'serviceMonitor/trading/engines/0',
      engines.map(({ target }) => target),
    ),
  ]);
});

afterAll(async () => {
  await prometheus?.process.stop();
  for (const { engine } of engines) await engine.signal('SIGTERM');
});

const names = (samples: Sample[], label = 'instance_name') =>
  [...new Set(samples.map((sample) => sample.metric[label]))].sort();

/** Polls a query until it answers for every instance (rates need two scrapes). */
const untilBoth = (expr: string) =>
  waitFor(`${expr} to answer for both instances`, async () => {
    const samples = await prometheus.query(expr);
    return names(samples).length === 2 ? samples : undefined;
  });

describe('a real Prometheus scraping engines through ServiceMonitor relabelling', () => {
  it('keeps the engine identity as instance_name/service_name, with instance the scraped address', async () => {
    const info = await untilBoth('engine_info');
    expect(names(info)).toEqual([alpha, lh].sort());
    for (const { metric } of info) {
      expect(Object.keys(metric).filter((label) => label.startsWith('exported_'))).toEqual([]);
      expect(metric.service_name).toBe('trading-system-engine');
      expect(engines.map(({ target }) => target.address)).toContain(metric.instance);
      expect(metric).toMatchObject({
        namespace: 'trading',
        endpoint: 'management',
        container: 'engine',
      });
    }
  });

  it("lists the instance names for the dashboard's instance variable", async () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'instance');
    const match = /^label_values\((\w+), (\w+)\)$/.exec(variable?.query?.query ?? '');
    expect(match).not.toBeNull();
    const [, metric, label] = match as unknown as [string, string, string];
    await untilBoth(metric);
    expect(await prometheus.labelValues(label, metric)).toEqual(
      expect.arrayContaining([lh, alpha]),
    );
  });

  const enginePanels = dashboard.panels.filter((panel) =>
    panel.targets?.some((target) => target.expr.includes('$instance')),
  );
  it.each(enginePanels.map((panel) => [panel.title, panel.targets?.[0]?.expr ?? '']))(
    'answers the dashboard panel "%s" for both instances',
    async (_title, expr) => {
      // Grafana expands a multi-value variable into a regex alternation.
      const samples = await untilBoth(expr.replaceAll('$instance', `${lh}|${alpha}`));
      expect(names(samples)).toEqual([alpha, lh].sort());
    },
  );

  it('sees exactly one active engine per instance, the standby reporting 0', async () => {
    const active = await untilBoth('sum by (instance_name) (engine_active)');
    expect(Object.fromEntries(active.map((s) => [s.metric.instance_name, s.value[1]]))).toEqual({
      [lh]: '1',
      [alpha]: '1',
    });
    const lhPods = await prometheus.query(`engine_active{instance_name="${lh}"}`);
    expect(lhPods.map((s) => s.value[1]).sort()).toEqual(['0', '1']);
  });
});
