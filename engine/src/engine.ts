import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { TradingService } from './application/trading.ts';
import type { EngineConfig } from './config.ts';
import { closeGrpc, createGrpcServer, listenGrpc } from './grpc/server.ts';
import { tradingGrpcService } from './grpc/trading.ts';
import { buildApp } from './http/app.ts';
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
  grpc: grpc.Server;
  status: EngineStatus;
  stores: Stores;
  trading: TradingService;
  ports: { http: number; grpc: number };
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
  const app = await buildApp({ logger, status, stores, metrics, routes: [tradingRoutes(trading)] });
  const grpcServer = createGrpcServer(status, logger, [
    tradingGrpcService({
      trading,
      store: () => stores.store,
      status,
      refusal: () => status.writeRefusal(),
      events: orderEvents,
    }),
  ]);

  status.on('change', (ready) =>
    logger.info(
      { ready, reasons: status.report().reasons },
      ready ? 'engine is ready' : 'engine is not ready',
    ),
  );
  await app.listen({ host, port: config.httpPort });
  lock?.start();
  const grpcPort = await listenGrpc(grpcServer, host, config.grpcPort);
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  const { identity } = config;
  logger.info(
    {
      http_port: httpPort,
      grpc_port: grpcPort,
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
      await Promise.all([app.close(), closeGrpc(grpcServer, config.shutdownTimeoutMs)]);
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
    grpc: grpcServer,
    status,
    stores,
    trading,
    ports: { http: httpPort, grpc: grpcPort },
    stop,
  };
}
