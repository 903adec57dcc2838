import { StoreUnavailableError, TseError, ValidationError } from '@tse/adapter';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { NotFoundError } from '../application/trading.ts';
import { DomainError } from '../domain/errors.ts';
import type { Stores } from '../infrastructure/stores.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { EngineStatus } from '../status.ts';
import { healthRoutes } from './health.ts';
import { recordRoutes } from './records.ts';

/** What the HTTP app is built from. */
export interface AppDependencies {
  logger: Logger;
  status: EngineStatus;
  stores: Stores;
  metrics: EngineMetrics;
  /** Further routes (the trading API) registered under /api/v1. */
  routes?: ((app: FastifyInstance) => void | Promise<void>)[];
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Builds the engine's HTTP app without listening: health, metrics, the
 * trading routes, RED metrics per route template, errors mapped to statuses,
 * and writes refused with 503 while PostgreSQL cannot keep them.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Requests are counted in metrics; a log line each would drown the useful ones.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });

  // RED metrics per route template. The labelled children are cached: label
  // hashing on every request is most of what a metric update costs.
  const children = new Map<
    string,
    {
      requests: { inc(): void };
      duration: { observe(value: number): void };
      errors: { inc(): void };
    }
  >();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${route} ${reply.statusCode}`;
    let child = children.get(key);
    if (!child) {
      const labels = { method: request.method, route, status_code: String(reply.statusCode) };
      child = {
        requests: deps.metrics.requests.labels(labels),
        duration: deps.metrics.duration.labels(labels),
        errors: deps.metrics.errors.labels(labels),
      };
      children.set(key, child);
    }
    child.requests.inc();
    child.duration.observe(reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) {
      child.errors.inc();
      request.log.warn(
        { method: request.method, url: request.url, status: reply.statusCode },
        'request failed',
      );
    }
    done();
  });

  // While draining, answers close their connection: an idle keep-alive socket would hold up the close.
  app.addHook('onSend', (_, reply, payload, done) => {
    if (deps.status.draining()) reply.header('connection', 'close');
    done(null, payload);
  });

  // Writes wait for what can keep them: PostgreSQL up, and this engine holding its instance's lock.
  app.addHook('preHandler', (request, reply, done) => {
    const refusal =
      WRITES.has(request.method) && request.url.startsWith('/api/v1/')
        ? deps.status.writeRefusal()
        : undefined;
    if (!refusal) {
      done();
      return;
    }
    reply.code(503).send({ error: 'Service Unavailable', message: refusal });
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ValidationError)
      return reply
        .code(400)
        .send({ error: 'Bad Request', message: error.message, field: error.field });
    if (error instanceof ZodError)
      return reply.code(400).send({ error: 'Bad Request', message: describeZodError(error) });
    if (error instanceof DomainError)
      return reply.code(409).send({ error: 'Conflict', message: error.message, code: error.code });
    if (error instanceof NotFoundError)
      return reply.code(404).send({ error: 'Not Found', message: error.message });
    if (error instanceof StoreUnavailableError)
      return reply.code(503).send({ error: 'Service Unavailable', message: error.message });
    if (error instanceof TseError)
      return reply.code(409).send({ error: 'Conflict', message: error.message, code: error.code });
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status < 500)
      return reply.code(status).send({ error: 'Bad Request', message: (error as Error).message });
    request.log.error({ err: error }, 'unexpected error');
    return reply
      .code(500)
      .send({ error: 'Internal Server Error', message: 'unexpected error; see the engine log' });
  });

  await app.register(healthRoutes(deps));
  await app.register(
    recordRoutes(() => deps.stores.store),
    { prefix: '/api/v1' },
  );
  for (const routes of deps.routes ?? [])
    await app.register(async (scope) => routes(scope), { prefix: '/api/v1' });
  return app;
}

/** One sentence per problem, naming the field: `quantity: must be greater than 0`. */
export function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ');
}
