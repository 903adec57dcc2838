import type { FastifyInstance } from 'fastify';
import type { EngineMetrics } from '../metrics.ts';
import type { EngineStatus } from '../status.ts';

/** Health for people and load balancers, liveness and readiness for probes, metrics for Prometheus. */
export function healthRoutes({
  status,
  metrics,
}: {
  status: EngineStatus;
  metrics: EngineMetrics;
}) {
  return async (app: FastifyInstance) => {
    const health = async (_: unknown, reply: { code(code: number): unknown }) => {
      const report = status.report();
      if (report.status === 'shutting_down') reply.code(503);
      return report;
    };
    app.get('/health', health);
    app.get('/api/v1/health', health);

    app.get('/api/v1/health/live', async () => ({ status: 'alive' }));
    app.get('/api/v1/health/ready', async (_, reply) => {
      const report = status.report();
      metrics.ready.set(report.ready ? 1 : 0);
      return reply
        .code(report.ready ? 200 : 503)
        .send({ ready: report.ready, reasons: report.reasons });
    });

    const render = async (_: unknown, reply: { header(name: string, value: string): unknown }) => {
      const report = status.report();
      metrics.ready.set(report.ready ? 1 : 0);
      for (const [name, state] of Object.entries(report.dependencies))
        metrics.dependencyUp.set({ dependency: name }, state.status === 'down' ? 0 : 1);
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    };
    app.get('/metrics', render);
    app.get('/api/v1/metrics', render);
  };
}
