import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { Access } from './access/auth.ts';
import { RateLimit, StreamGate } from './access/limits.ts';
import { TradingService } from './application/trading.ts';
import type { EngineConfig } from './config.ts';
import { closeGrpc, createGrpcServer, listenGrpc } from './grpc/server.ts';
import { tradingGrpcService } from './grpc/trading.ts';
import { buildApp, buildManagementApp, closeHttp } from './http/app.ts';
import { tradingRoutes } from './http/trading.ts';
import { InstanceLock } from './infrastructure/instance-lock.ts';
import { Stores } from './infrastructure/stores.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { EngineStatus } from './status.ts';

/** A running engine: its parts, where it listens, and how to stop it. */
export interface Engine {
  config: EngineConfig;
  logger: Logger;
  app: FastifyInstance;
  /** Health and /metrics on the management port. */
  management: FastifyInstance;
  grpc: grpc.Server;
  status: EngineStatus;
  stores: Stores;
  trading: TradingService;
  ports: { http: number; grpc: number; management: number };
  /** Stops taking work, lets in-flight HTTP and gRPC calls finish, closes the stores. */
  stop(): Promise<void>;
}

/** Assembles the engine from its configuration and starts listening. */
export async function startEngine(
  config: EngineConfig,
  options: {
    host?: string;
    logDestination?: DestinationStream;
    checkIntervalMs?: number;
    /** Called when the lock this engine traded under is lost (the process should exit and restart). */
    onLockLost?: (reason: string) => void;
  } = {},
): Promise<Engine> {
  const host = options.host ?? '0.0.0.0';
  const logger = createLogger(config, options.logDestination);
  const stores = new Stores(config, logger, { checkIntervalMs: options.checkIntervalMs });
  const status = new EngineStatus(config, stores);
  const lock = config.postgresUrl
    ? new InstanceLock({
        url: config.postgresUrl,
        tls: config.postgresTls,
        schema: config.identity.postgresSchema,
        instance: config.identity.instanceName,
        status,
        log: logger,
        onLost: (reason) => options.onLockLost?.(reason),
      })
    : undefined;
  // Without PostgreSQL there is no lock and no standby: the one engine is the active one.
  const metrics = createMetrics(config, () => lock?.isHeld() ?? true);
  const orderEvents = new EventEmitter();
  const trading = new TradingService({
    store: () => stores.store,
    cache: stores.cache,
    limits: config.limits,
    onEvent: (event) => {
      orderEvents.emit('event', event);
      logger.info(
        {
          order_id: event.order.order_id,
          status: event.order.status,
          instrument_id: event.order.instrument_id,
        },
        `order ${event.type}`,
      );
    },
    onPublishError: (error) =>
      logger.warn({ err: error }, 'order event not published: Redis is unavailable'),
  });
  const access = new Access(
    { trade: config.apiToken, read: config.apiReadToken },
    new RateLimit(config.rateLimitPerSecond),
  );
  if (access.open)
    logger.warn(
      { environment: config.environment },
      'API_TOKEN is not set: the trading API is open to anyone who can reach this engine',
    );
  const app = await buildApp({
    logger,
    status,
    stores,
    metrics,
    access,
    version: config.version,
    routes: [tradingRoutes(trading)],
  });
  const management = await buildManagementApp({ logger, status, metrics });
  const grpcServer = createGrpcServer(
    status,
    logger,
    [
      tradingGrpcService({
        trading,
        store: () => stores.store,
        status,
        refusal: () => status.writeRefusal(),
        events: orderEvents,
        access,
        streams: new StreamGate(config.maxEventStreams),
      }),
    ],
    { access, watches: new StreamGate(config.maxEventStreams) },
  );

  status.on('change', (ready) =>
    logger.info(
      { ready, reasons: status.report().reasons },
      ready ? 'engine is ready' : 'engine is not ready',
    ),
  );
  await management.listen({ host, port: config.managementPort });
  await app.listen({ host, port: config.httpPort });
  lock?.start();
  const grpcPort = await listenGrpc(grpcServer, host, config.grpcPort);
  const httpPort = boundPort(app, config.httpPort);
  const managementPort = boundPort(management, config.managementPort);
  const { identity } = config;
  logger.info(
    {
      http_port: httpPort,
      grpc_port: grpcPort,
      management_port: managementPort,
      authentication: access.open ? 'none' : config.apiReadToken ? 'trade, read' : 'trade',
      postgres_schema: identity.postgresSchema,
      redis_namespace: identity.redisNamespace,
      version: config.version,
    },
    `engine ${identity.instanceName} started`,
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('shutting down: not ready, finishing in-flight calls');
      status.beginShutdown();
      // A connection that goes idle from now on (a call finishing) is closed at once, not
      // kept alive until its timeout: close() only ends the connections idle when it starts.
      for (const server of [app.server, management.server]) server.keepAliveTimeout = 1;
      // One deadline for the whole drain: the process is ended shortly after it regardless.
      const deadline = performance.now() + config.shutdownTimeoutMs;
      await Promise.all([
        closeHttp(app, config.shutdownTimeoutMs),
        closeGrpc(grpcServer, config.shutdownTimeoutMs),
      ]);
      // Probes and scrapes are answered (not ready) until the API has drained; then the time left.
      await closeHttp(management, Math.max(0, deadline - performance.now()));
      await lock?.stop();
      await stores.close();
      logger.info('shut down');
    })();
    return stopping;
  };
  return {
    config,
    logger,
    app,
    management,
    grpc: grpcServer,
    status,
    stores,
    trading,
    ports: { http: httpPort, grpc: grpcPort, management: managementPort },
    stop,
  };
}

/** The port a listening app is bound to (the configured one unless that was 0). */
function boundPort(app: FastifyInstance, configured: number): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : configured;
}
