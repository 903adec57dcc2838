import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import type { Access } from '../access/auth.ts';
import { GRPC_MAX_RECEIVE_BYTES, type StreamGate } from '../access/limits.ts';
import type { EngineStatus } from '../status.ts';
import { addService, guarded, served } from './guard.ts';

const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
/** The reflection service's proto file, as the package that serves it ships it. */
const REFLECTION_PROTO_ROOT = join(
  dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);
const SERVING = 'SERVING';
const NOT_SERVING = 'NOT_SERVING';

/** The service names the health service answers for ("" is the whole engine). */
export const HEALTH_SERVICES = ['', 'tse.engine.v1.Instance', 'tse.engine.v1.Trading'] as const;

/** Every proto file of the services the engine serves, as reflection describes them. */
export const PROTO_FILES = [
  'grpc/health/v1/health.proto',
  'grpc/reflection/v1/reflection.proto',
  'tse/engine/v1/instance.proto',
  'tse/engine/v1/trading.proto',
] as const;

function loadDefinition(files: readonly string[]): protoLoader.PackageDefinition {
  return protoLoader.loadSync([...files], {
    includeDirs: [PROTO_ROOT, REFLECTION_PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
}

/** Loads the engine's proto files (the standard health and reflection services and our own). */
export function loadProtos(files: string[]): grpc.GrpcObject {
  return grpc.loadPackageDefinition(loadDefinition(files));
}

type Package = Record<string, unknown>;
const pick = (root: grpc.GrpcObject, path: string) =>
  path
    .split('.')
    .reduce<unknown>((node, key) => (node as Package)[key], root) as grpc.ServiceClientConstructor;

/** The streams a server refuses past: health watches (unauthenticated) counted apart from order events. */
export const STREAMS_FULL = 'too many streams are open; try again later';

/**
 * The engine's gRPC server: grpc.health.v1.Health following readiness (Check,
 * and Watch streams that see every change; unauthenticated, for probes) and
 * the Instance service (read grant), the given services, and server reflection
 * (unauthenticated, describing the API only). Messages over GRPC_MAX_RECEIVE_BYTES
 * are refused with RESOURCE_EXHAUSTED.
 */
export function createGrpcServer(
  status: EngineStatus,
  log: Logger,
  services: ((server: grpc.Server) => void)[],
  guard: { access: Access; watches: StreamGate },
): grpc.Server {
  const protos = loadProtos(['grpc/health/v1/health.proto', 'tse/engine/v1/instance.proto']);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': GRPC_MAX_RECEIVE_BYTES });
  // The trading service serves only on the active engine; a standby's engine ("") is healthy.
  const servingStatus = (service: string) =>
    status.ready() && (service !== 'tse.engine.v1.Trading' || status.role() === 'active')
      ? SERVING
      : NOT_SERVING;
  const known = (service: string) => (HEALTH_SERVICES as readonly string[]).includes(service);

  addService(server, pick(protos, 'grpc.health.v1.Health').service, {
    Check(
      call: grpc.ServerUnaryCall<{ service: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      if (!known(call.request.service)) {
        callback({
          code: grpc.status.NOT_FOUND,
          details: `unknown service ${JSON.stringify(call.request.service)}`,
        });
        return;
      }
      callback(null, { status: servingStatus(call.request.service) });
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      if (!known(call.request.service)) {
        call.write({ status: 'SERVICE_UNKNOWN' });
        return;
      }
      const release = guard.watches.tryOpen();
      if (!release) {
        call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: STREAMS_FULL });
        return;
      }
      // A draining engine ends its watch streams so that shutdown is not held up by them.
      const send = () => {
        call.write({ status: servingStatus(call.request.service) });
        if (status.draining()) call.end();
      };
      send();
      status.on('change', send);
      const stop = () => {
        status.off('change', send);
        release();
      };
      for (const event of ['cancelled', 'close', 'finish', 'error']) call.on(event, stop);
    },
  });

  const instance = pick(protos, 'tse.engine.v1.Instance').service;
  addService(
    server,
    instance,
    guarded(
      instance,
      {
        GetIdentity(_: unknown, callback: grpc.sendUnaryData<unknown>) {
          const report = status.report();
          callback(null, {
            service_name: report.service,
            instance_name: report.instance,
            postgres_schema: report.postgres_schema,
            redis_namespace: report.redis_namespace,
            environment: report.environment,
            version: report.version,
            ready: report.ready,
            status: report.status,
          });
        },
      },
      guard.access,
      new Set(['GetIdentity']),
    ),
  );
  for (const add of services) add(server);
  // Server reflection (v1, and v1alpha for older clients), open like health:
  // `grpcurl list` and `describe` need no token; it tells what the proto files
  // tell. It describes exactly the services served, reflection included.
  const names = [...served(server), 'grpc.reflection.v1.ServerReflection'];
  new ReflectionService(loadDefinition(PROTO_FILES), { services: names }).addToServer({
    addService: (definition, implementation) => addService(server, definition, implementation),
  });
  log.debug({ services: served(server) }, 'gRPC services registered');
  return server;
}

/** Binds the server on a port (0 picks a free one) and returns the port. */
export function listenGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
    error ? reject(error) : resolve(bound),
  );
  return promise;
}

/** Lets in-flight calls finish, ending streams (health watches) that would never end by themselves. */
export function closeGrpc(server: grpc.Server, timeoutMs: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setTimeout(() => {
    server.forceShutdown();
    resolve();
  }, timeoutMs);
  server.tryShutdown(() => {
    clearTimeout(timer);
    resolve();
  });
  return promise;
}
