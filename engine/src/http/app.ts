import {
  createServer,
  type IncomingMessage,
  type ServerOptions,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { StoreUnavailableError, TseError, ValidationError } from '@tse/adapter';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { ZodError, type z } from 'zod';
import { type Access, type Admission, type Grant, REFUSALS } from '../access/auth.ts';
import { HTTP_BODY_LIMIT_BYTES } from '../access/limits.ts';
import { NotFoundError } from '../application/trading.ts';
import { DomainError } from '../domain/errors.ts';
import type { Stores } from '../infrastructure/stores.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { EngineStatus } from '../status.ts';
import { HEALTH_PATHS, healthAnswer, healthRoutes, metricsRoutes, REPORT_PATHS } from './health.ts';
import { documented, OPENAPI_PATH, openapi } from './openapi.ts';
import { recordRoutes } from './records.ts';

/** What the HTTP app is built from. */
export interface AppDependencies {
  logger: Logger;
  status: EngineStatus;
  stores: Stores;
  metrics: EngineMetrics;
  /** Who may call which route, and how often. */
  access: Access;
  /** The version the OpenAPI document states. */
  version?: string;
  /** Further routes (the trading API) registered under /api/v1. */
  routes?: ((app: FastifyInstance) => void | Promise<void>)[];
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const READS = new Set(['GET', 'HEAD']);
/**
 * Routes anyone may call: health, on the API's port as on the management port,
 * and the OpenAPI document, which describes the API and holds no data.
 */
const PUBLIC_PATHS = new Set(['/health', ...HEALTH_PATHS, OPENAPI_PATH]);

/** A route of the API's port and the grant it needs (undefined: public). */
export interface RouteAccess {
  method: string;
  url: string;
  access: Grant | undefined;
}
const tables = new WeakMap<FastifyInstance, RouteAccess[]>();

/** Every route the app registered, with the grant each needs: what the tests check, route by route. */
export function accessTable(app: FastifyInstance): readonly RouteAccess[] {
  return tables.get(app) ?? [];
}

/** The grant a route needs: none for health, `read` for GET and HEAD, `trade` for anything else. */
export function routeAccess(method: string, url: string): Grant | undefined {
  if (PUBLIC_PATHS.has(url)) return undefined;
  return READS.has(method) ? 'read' : 'trade';
}

/**
 * Builds the engine's HTTP app without listening: health, the trading routes
 * behind bearer tokens and a rate limit, RED metrics per route template,
 * errors mapped to statuses, and writes refused with 503 while PostgreSQL
 * cannot keep them. Metrics are on the management app.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Requests are counted in metrics; a log line each would drown the useful ones.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    bodyLimit: HTTP_BODY_LIMIT_BYTES,
    // The server fastify would make, with the health report answered before
    // fastify's request lifecycle (see directHealth).
    serverFactory: (handler, factoryOptions) => {
      // Fastify's own defaults, as it would set them on the server it makes.
      const options = factoryOptions as {
        http?: ServerOptions;
        keepAliveTimeout: number;
        requestTimeout: number;
        connectionTimeout: number;
      };
      const server = createServer(options.http ?? {}, (request, response) => {
        if (request.method === 'GET' && reportPaths.has(request.url ?? ''))
          directHealth(request, response);
        else handler(request, response);
      });
      server.keepAliveTimeout = options.keepAliveTimeout;
      server.requestTimeout = options.requestTimeout;
      server.setTimeout(options.connectionTimeout);
      return server;
    },
  });
  const reportPaths = new Set(REPORT_PATHS);

  /**
   * GET /api/v1/health (and /health) on a real connection, answered as the
   * fastify route answers it, without fastify's per-request objects, hooks and
   * child logger: load balancers poll it, and fastify's lifecycle cost a
   * third more CPU than the answer itself. What the hooks would do to it is
   * done here: it is public (no token, no rate limit), counted in the RED
   * metrics under its route, and says `connection: close` while draining.
   * app.inject() and HEAD still go through the route.
   */
  const directHealth = (request: IncomingMessage, response: ServerResponse) => {
    const started = performance.now();
    const { code, report } = healthAnswer(deps.status, false);
    const body = JSON.stringify(report);
    response.writeHead(code, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...(deps.status.draining() && { connection: 'close' }),
    });
    response.end(body);
    observe(request.method ?? 'GET', request.url ?? '', code, performance.now() - started, () =>
      deps.logger.warn(
        { method: request.method, url: request.url, status: code },
        'request failed',
      ),
    );
  };

  // Inputs are validated by their zod schemas, which fail with a ZodError
  // (answered 400 below, naming each field). Answers are JSON as they are:
  // their schemas document them (the tests hold the answers to them).
  app.setValidatorCompiler<z.ZodType>(({ schema }) => (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: result.error };
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Default deny: every route but health needs a token, whoever adds it. The
  // route's schema states it (security), with the error answers it can get.
  const table: RouteAccess[] = [];
  tables.set(app, table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const access = routeAccess(method, route.url);
      table.push({ method, url: route.url, access });
      route.config = {
        ...(route.config as object),
        access: { ...accessOf(route), [method]: access },
      } as typeof route.config;
      if (method !== 'HEAD') route.schema = documented(route.schema, access, method, route.url);
    }
  });
  await openapi(app, deps.version ?? '0.0.0');
  // A callback hook, not an async one: public routes go on without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config as { access?: Record<string, Grant | undefined> };
    const needs = config.access?.[request.method];
    if (!needs) {
      done();
      return;
    }
    deps.access.admit(request.headers.authorization, request.ip, needs).then(
      (admission) => {
        if (admission.ok) done();
        else refuse(reply, admission);
      },
      (error: Error) => done(error),
    );
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
  const observe = (
    method: string,
    route: string,
    statusCode: number,
    elapsedMs: number,
    failed: () => void,
  ) => {
    const key = `${method} ${route} ${statusCode}`;
    let child = children.get(key);
    if (!child) {
      const labels = { method, route, status_code: String(statusCode) };
      child = {
        requests: deps.metrics.requests.labels(labels),
        duration: deps.metrics.duration.labels(labels),
        errors: deps.metrics.errors.labels(labels),
      };
      children.set(key, child);
    }
    child.requests.inc();
    child.duration.observe(elapsedMs / 1000);
    if (statusCode >= 500) {
      child.errors.inc();
      failed();
    }
  };
  app.addHook('onResponse', (request, reply, done) => {
    observe(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime,
      () =>
        request.log.warn(
          { method: request.method, url: request.url, status: reply.statusCode },
          'request failed',
        ),
    );
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
    if (error instanceof StoreUnavailableError) {
      // The cause names hosts and drivers: the log gets it, the client does not.
      request.log.warn({ err: error }, 'request failed: a store is unavailable');
      return reply
        .code(503)
        .send({ error: 'Service Unavailable', message: `${error.store} is unavailable` });
    }
    if (error instanceof TseError)
      return reply.code(409).send({ error: 'Conflict', message: error.message, code: error.code });
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply
        .code(status)
        .send({ error: STATUS_CODES[status] ?? 'Bad Request', message: (error as Error).message });
    request.log.error({ err: error }, 'unexpected error');
    return reply
      .code(500)
      .send({ error: 'Internal Server Error', message: 'unexpected error; see the engine log' });
  });

  await app.register(healthRoutes({ ...deps, legacy: true, detailed: false }));
  await app.register(
    recordRoutes(() => deps.stores.store),
    { prefix: '/api/v1' },
  );
  for (const routes of deps.routes ?? [])
    await app.register(async (scope) => routes(scope), { prefix: '/api/v1' });
  return app;
}

/** The management port's app: health and /metrics, never authenticated, never rate limited. */
export async function buildManagementApp(deps: {
  logger: Logger;
  status: EngineStatus;
  metrics: EngineMetrics;
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024,
  });
  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply
        .code(status)
        .send({ error: STATUS_CODES[status], message: (error as Error).message });
    request.log.error({ err: error }, 'unexpected error');
    return reply
      .code(500)
      .send({ error: 'Internal Server Error', message: 'unexpected error; see the engine log' });
  });
  await app.register(healthRoutes(deps));
  await app.register(metricsRoutes(deps));
  return app;
}

/**
 * Closes an app: no new connections, in-flight requests finish, for up to
 * `timeoutMs`; then the connections still open are cut (one that sent half
 * a request, a client that never reads), as the gRPC server is force-shut.
 */
export async function closeHttp(app: FastifyInstance, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

function accessOf(route: { config?: unknown }): Record<string, Grant | undefined> {
  return (route.config as { access?: Record<string, Grant | undefined> } | undefined)?.access ?? {};
}

/** 401 with a Bearer challenge, 403, or 429 with Retry-After: nothing else said, nothing done. */
function refuse(reply: FastifyReply, admission: Exclude<Admission, { ok: true }>) {
  if (admission.reason === 'rate_limited')
    return reply
      .code(429)
      .header('retry-after', String(admission.retryAfterSeconds))
      .send({ error: 'Too Many Requests', message: REFUSALS.rate_limited });
  if (admission.reason === 'forbidden')
    return reply.code(403).send({ error: 'Forbidden', message: REFUSALS.forbidden });
  return reply
    .code(401)
    .header('www-authenticate', 'Bearer')
    .send({ error: 'Unauthorized', message: REFUSALS.unauthenticated });
}

/** One sentence per problem, naming the field: `quantity: must be greater than 0`. */
export function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ');
}
