import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineConfig } from './config.ts';

/** The engine's Prometheus metrics; every series carries the instance identity as labels. */
export interface EngineMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status_code'>;
  errors: Counter<'method' | 'route' | 'status_code'>;
  duration: Histogram<'method' | 'route' | 'status_code'>;
  dependencyUp: Gauge<'dependency'>;
  ready: Gauge;
}

/**
 * The identity labels on every series. Named as in the logs (`service_name`,
 * `instance_name`) and not `service`/`instance`: Prometheus sets those as target
 * labels (a ServiceMonitor adds `instance`, `service`, `job`, `namespace`, `pod`),
 * so it would rename ours to `exported_*` and the dashboards would show pod addresses.
 */
export function identityLabels(config: EngineConfig): Record<string, string> {
  return {
    service_name: config.identity.serviceName,
    instance_name: config.identity.instanceName,
    environment: config.environment,
  };
}

/**
 * prom-client's aggregate gauges whose names end in `_total`, which promtool
 * rejects (only counters may); `nodejs_active_handles` and friends carry the
 * same numbers by type.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Creates the engine's registry; `isActive` says whether this engine holds its instance's lock. */
export function createMetrics(
  config: EngineConfig,
  isActive: () => boolean = () => true,
): EngineMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(identityLabels(config));
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  new Gauge({
    name: 'engine_active',
    help: '1 when this engine holds its instance lock and trades, 0 while it stands by.',
    registers: [registry],
    // Read at scrape time so the gauge never lags the lock.
    collect() {
      this.set(isActive() ? 1 : 0);
    },
  });
  const labelNames = ['method', 'route', 'status_code'] as const;
  new Gauge({
    name: 'engine_info',
    help: 'The running engine: always 1, with its version, schema and namespace as labels.',
    labelNames: ['version', 'postgres_schema', 'redis_namespace'],
    registers: [registry],
  }).set(
    {
      version: config.version,
      postgres_schema: config.identity.postgresSchema,
      redis_namespace: config.identity.redisNamespace,
    },
    1,
  );
  return {
    registry,
    requests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route template and status.',
      labelNames,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'http_request_errors_total',
      help: 'HTTP requests answered with a 5xx status.',
      labelNames,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template.',
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'engine_dependency_up',
      help: '1 when the dependency answers, 0 when not.',
      labelNames: ['dependency'],
      registers: [registry],
    }),
    ready: new Gauge({
      name: 'engine_ready',
      help: '1 when the engine accepts work.',
      registers: [registry],
    }),
  };
}
