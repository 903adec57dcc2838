import type { FastifyInstance } from 'fastify';
import type { EngineMetrics } from '../metrics.ts';
import type { EngineStatus, HealthReport } from '../status.ts';

/** The health paths, on both the API's port and the management port; never authenticated. */
export const HEALTH_PATHS = ['/api/v1/health', '/api/v1/health/live', '/api/v1/health/ready'];

/** The paths whose GET answers the health report: the API's port answers them without fastify (see buildApp). */
export const REPORT_PATHS = ['/health', '/api/v1/health'];

/** What GET /api/v1/health answers: the report, 503 once shutting down. One function for both paths that serve it. */
export function healthAnswer(
  status: EngineStatus,
  detailed: boolean,
): { code: number; report: HealthReport } {
  const report = status.report(new Date(), { detailed });
  return { code: report.status === 'shutting_down' ? 503 : 200, report };
}

/** Health for people and load balancers, liveness and readiness for probes. */
export function healthRoutes({
  status,
  metrics,
  legacy = false,
  detailed = true,
}: {
  status: EngineStatus;
  metrics: EngineMetrics;
  /** Also answer /health, the seed's path, kept on the API's port. */
  legacy?: boolean;
  /** Say why a store is down (hosts, driver errors): not on the port every client reaches. */
  detailed?: boolean;
}) {
  return async (app: FastifyInstance) => {
    const health = async (_: unknown, reply: { code(code: number): unknown }) => {
      const { code, report } = healthAnswer(status, detailed);
      reply.code(code);
      return report;
    };
    const described = (operationId: string, summary: string) => ({
      schema: { operationId, summary, tags: ['health'] },
    });
    if (legacy)
      app.get('/health', described('getHealthLegacy', "Health (the seed's path)"), health);
    app.get('/api/v1/health', described('getHealth', 'Health: status, role, dependencies'), health);

    app.get('/api/v1/health/live', described('getLiveness', 'Liveness'), async () => ({
      status: 'alive',
    }));
    app.get('/api/v1/health/ready', described('getReadiness', 'Readiness'), async (_, reply) => {
      const report = status.report(new Date(), { detailed });
      metrics.ready.set(report.ready ? 1 : 0);
      return reply
        .code(report.ready ? 200 : 503)
        .send({ ready: report.ready, reasons: report.reasons });
    });
  };
}

/** Prometheus' scrape path, served on the management port only. */
export function metricsRoutes({
  status,
  metrics,
}: {
  status: EngineStatus;
  metrics: EngineMetrics;
}) {
  return async (app: FastifyInstance) => {
    app.get('/metrics', async (_, reply) => {
      const report = status.report();
      metrics.ready.set(report.ready ? 1 : 0);
      for (const [name, state] of Object.entries(report.dependencies))
        metrics.dependencyUp.set({ dependency: name }, state.status === 'down' ? 0 : 1);
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
}
