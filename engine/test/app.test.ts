import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Access } from '../src/access/auth.ts';
import { RateLimit } from '../src/access/limits.ts';
import { buildApp, buildManagementApp } from '../src/http/app.ts';
import { Stores } from '../src/infrastructure/stores.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics.ts';
import { EngineStatus } from '../src/status.ts';
import { bearer, config, logLines, TOKENS } from './helpers.ts';

const opened: { apps: FastifyInstance[]; stores: Stores }[] = [];
afterEach(async () => {
  for (const { apps, stores } of opened.splice(0)) {
    for (const app of apps) await app.close();
    await stores.close();
  }
});

async function engineApp(env: Record<string, string> = {}) {
  const cfg = config(env);
  const log = logLines();
  const logger = createLogger(cfg, log.stream);
  const stores = new Stores(cfg, logger, { checkIntervalMs: 50 });
  const status = new EngineStatus(cfg, stores);
  const metrics = createMetrics(cfg);
  const access = new Access({ trade: cfg.apiToken, read: cfg.apiReadToken }, new RateLimit(0));
  const app = await buildApp({ logger, status, stores, metrics, access });
  const management = await buildManagementApp({ logger, status, metrics });
  opened.push({ apps: [app, management], stores });
  return { app, management, status, stores, log };
}

describe('the health endpoints', () => {
  it.each([
    [undefined, 'trading-system-engine', 'trading', 'trading'],
    [
      'trading-system-engine-LH',
      'trading-system-engine-LH',
      'trading_system_engine_lh',
      'trading_system:LH',
    ],
    [
      'trading-system-engine-Alpha-2',
      'trading-system-engine-Alpha-2',
      'trading_system_engine_alpha_2',
      'trading_system:Alpha-2',
    ],
  ])(
    'report the identity of instance %s on both paths',
    async (instanceName, instance, schema, namespace) => {
      const { app } = await engineApp(
        instanceName
          ? { SERVICE_INSTANCE_NAME: instanceName, VERSION: '1.2.3', ENVIRONMENT: 'testing' }
          : { VERSION: '1.2.3', ENVIRONMENT: 'testing' },
      );
      for (const url of ['/api/v1/health', '/health']) {
        const response = await app.inject({ url });
        expect(response.statusCode).toBe(200);
        const body = response.json();
        expect(body).toMatchObject({
          status: 'healthy',
          service: 'trading-system-engine',
          instance,
          version: '1.2.3',
          environment: 'testing',
          postgres_schema: schema,
          redis_namespace: namespace,
          ready: true,
        });
        expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(body.dependencies.postgres.status).toBe('memory');
      }
    },
  );

  it('say so when the data is only in memory', async () => {
    const { app, log } = await engineApp();
    const body = (await app.inject({ url: '/api/v1/health' })).json();
    expect(body.dependencies.postgres.reason).toMatch(/POSTGRES_URL is not set/);
    expect(
      log.lines.some(
        (line) => line.dependency === 'postgres' && String(line.msg).includes('in memory only'),
      ),
    ).toBe(true);
  });

  it('answer liveness always and readiness only when the engine can take work', async () => {
    const { app, status } = await engineApp();
    expect((await app.inject({ url: '/api/v1/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/health/ready' })).statusCode).toBe(200);
    status.hold('draining-test', 'held by the test');
    const notReady = await app.inject({ url: '/api/v1/health/ready' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().reasons).toEqual(['held by the test']);
    status.release('draining-test');
    // A standby is ready (it can take over at once) but refuses writes and says why.
    status.standBy('another engine holds the instance lock');
    expect((await app.inject({ url: '/api/v1/health/ready' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/health' })).json()).toMatchObject({
      status: 'healthy',
      role: 'standby',
    });
    expect(status.writeRefusal()).toBe(
      'writes are refused: another engine holds the instance lock',
    );
    status.activate();
    expect((await app.inject({ url: '/api/v1/health' })).json().role).toBe('active');
    status.beginShutdown();
    expect((await app.inject({ url: '/api/v1/health/ready' })).statusCode).toBe(503);
    expect((await app.inject({ url: '/api/v1/health' })).json().status).toBe('shutting_down');
  });

  it('answer the report on a real connection as the route does, counted in the metrics, closing while draining', async () => {
    const { app, management, status } = await engineApp({ ENVIRONMENT: 'testing' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const series = async (name: string, code: number) =>
      new RegExp(
        `${name}\\{method="GET",route="/api/v1/health",status_code="${code}",[^}]*\\} (\\d+)`,
      ).exec((await management.inject({ url: '/metrics' })).body)?.[1];
    for (const url of ['/api/v1/health', '/health']) {
      const direct = await fetch(`http://127.0.0.1:${port}${url}`);
      const routed = await app.inject({ url });
      expect(direct.status).toBe(routed.statusCode);
      expect(direct.headers.get('content-type')).toBe(routed.headers['content-type']);
      const { timestamp, ...body } = (await direct.json()) as Record<string, string>;
      const { timestamp: routedTimestamp, ...expected } = routed.json();
      expect(body).toEqual(expected);
      expect(new Date(String(timestamp)).toISOString()).toBe(timestamp);
    }
    // Once over the connection, once injected.
    expect(await series('http_requests_total', 200)).toBe('2');
    status.beginShutdown();
    const closing = await fetch(`http://127.0.0.1:${port}/api/v1/health`);
    expect(closing.status).toBe(503);
    expect(closing.headers.get('connection')).toBe('close');
    expect(((await closing.json()) as { status: string }).status).toBe('shutting_down');
    expect(await series('http_requests_total', 503)).toBe('1');
    expect(await series('http_request_errors_total', 503)).toBe('1');
  });

  it('report degraded with the reason when PostgreSQL cannot be reached, and refuse writes', async () => {
    const { app, management, stores } = await engineApp({
      POSTGRES_URL: 'postgres://nobody:x@127.0.0.1:1/none',
    });
    await new Promise((resolve) => stores.onChange(() => resolve(undefined)));
    // Why is said on the management port, which probes and monitoring reach …
    const detailed = (await management.inject({ url: '/api/v1/health' })).json();
    expect(detailed.reasons[0]).toMatch(/^postgres is down: .*ECONNREFUSED/);
    expect(detailed.dependencies.postgres.reason).toMatch(/ECONNREFUSED/);
    // … not on the API's port, which every client reaches: no host, no driver error.
    const body = (await app.inject({ url: '/api/v1/health' })).json();
    expect(body.status).toBe('degraded');
    expect(body.ready).toBe(false);
    expect(body.reasons).toEqual(['postgres is down']);
    expect(body.dependencies.postgres).toEqual({ status: 'down', since: expect.any(String) });
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      payload: {},
      headers: { authorization: bearer(TOKENS.trade) },
    });
    expect(write.statusCode).toBe(503);
    // The client is told why, without the hosts and driver errors behind it.
    expect(write.json().message).toBe('writes are refused while PostgreSQL is down');
    const read = await app.inject({
      url: '/api/v1/orders',
      headers: { authorization: bearer(TOKENS.read) },
    });
    expect(read.statusCode).toBe(503);
    expect(read.json()).toEqual({
      error: 'Service Unavailable',
      message: 'postgres is unavailable',
    });
  });
});

describe('the metrics endpoint', () => {
  it('labels every series with the instance identity and counts requests by route template', async () => {
    const { app, management } = await engineApp({
      SERVICE_INSTANCE_NAME: 'trading-system-engine-LH',
      ENVIRONMENT: 'testing',
    });
    await app.inject({ url: '/api/v1/health' });
    await app.inject({ url: '/no/such/route' });
    const text = (await management.inject({ url: '/metrics' })).body;
    const identity =
      'service_name="trading-system-engine",instance_name="trading-system-engine-LH",environment="testing"';
    expect(text).toContain(
      `http_requests_total{method="GET",route="/api/v1/health",status_code="200",${identity}} 1`,
    );
    expect(text).toMatch(/http_requests_total\{method="GET",route="unmatched",status_code="404",/);
    expect(text).toMatch(
      new RegExp(`process_cpu_user_seconds_total\\{${identity.replaceAll('"', '\\"')}\\}`),
    );
    const series = text.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(series.every((line) => line.includes(identity))).toBe(true);
  });

  it('uses no label that Prometheus sets on targets, so a scrape keeps the identity as it is', async () => {
    const { management } = await engineApp({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' });
    const text = (await management.inject({ url: '/metrics' })).body;
    const labelNames = new Set([...text.matchAll(/[{,]([a-zA-Z_]\w*)="/g)].map((m) => m[1]));
    for (const target of [
      'instance',
      'service',
      'job',
      'namespace',
      'pod',
      'container',
      'endpoint',
    ]) {
      expect(labelNames).not.toContain(target);
    }
    expect(labelNames).toContain('instance_name');
  });

  it('names no gauge *_total, as promtool requires', async () => {
    const { management } = await engineApp();
    const text = (await management.inject({ url: '/metrics' })).body;
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]);
    expect(gauges).toContain('engine_ready');
    expect(gauges.filter((name) => name?.endsWith('_total'))).toEqual([]);
  });

  it.each([
    [true, 1],
    [false, 0],
  ])('reports engine_active %s as %i, read from the lock at scrape time', async (held, value) => {
    const cfg = config({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' });
    const metrics = createMetrics(cfg, () => held);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      new RegExp(
        `^engine_active\\{[^}]*instance_name="trading-system-engine-LH"[^}]*\\} ${value}$`,
        'm',
      ),
    );
  });
});
