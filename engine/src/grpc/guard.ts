import * as grpc from '@grpc/grpc-js';
import { type Access, type Admission, type Grant, REFUSALS } from '../access/auth.ts';
import { peerAddress } from '../access/limits.ts';

// biome-ignore lint/suspicious/noExplicitAny: grpc-js handlers differ by call type; each is passed on as it is
type Handler = (call: any, callback: any) => void;

/**
 * The services served without a token, by design: the standard health service
 * (probes and load balancers have no token) and server reflection (v1 and
 * v1alpha), which describes the API, the same as the proto files do, and
 * holds no data. Every other service must be `guarded`.
 */
export const OPEN_SERVICES: ReadonlySet<string> = new Set([
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
]);

const guardedImplementations = new WeakSet<object>();
const servedServices = new WeakMap<grpc.Server, string[]>();

/** The fully qualified name of a service (`tse.engine.v1.Trading`), from its methods' paths. */
export function serviceName(definition: grpc.ServiceDefinition): string {
  const [method] = Object.values(definition);
  if (!method) throw new Error('a gRPC service without methods');
  return method.path.split('/')[1] ?? '';
}

/**
 * Adds a service to a server: refused unless its implementation came from
 * `guarded` or it is one of OPEN_SERVICES, so that no service is served
 * unauthenticated by accident.
 */
export function addService(
  server: grpc.Server,
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): void {
  const name = serviceName(definition);
  if (!OPEN_SERVICES.has(name) && !guardedImplementations.has(implementation))
    throw new Error(`the gRPC service ${name} is neither guarded nor one of the open services`);
  server.addService(definition, implementation);
  servedServices.set(server, [...(servedServices.get(server) ?? []), name]);
}

/** The services added to a server with addService, in order. */
export function served(server: grpc.Server): readonly string[] {
  return servedServices.get(server) ?? [];
}

/** The status a refused call ends with: UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED. */
export function refusalStatus(
  admission: Exclude<Admission, { ok: true }>,
): Partial<grpc.StatusObject> {
  if (admission.reason === 'rate_limited') {
    const metadata = new grpc.Metadata();
    metadata.set('retry-after', String(admission.retryAfterSeconds));
    return {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: `${REFUSALS.rate_limited}; retry in ${admission.retryAfterSeconds}s`,
      metadata,
    };
  }
  if (admission.reason === 'forbidden')
    return { code: grpc.status.PERMISSION_DENIED, details: REFUSALS.forbidden };
  return { code: grpc.status.UNAUTHENTICATED, details: REFUSALS.unauthenticated };
}

/**
 * A service's handlers behind bearer tokens (metadata `authorization`) and the
 * rate limit. Every method of the definition is guarded: those named in
 * `reads` need the read grant, every other one (a method added later
 * included) the trading grant. A refused call ends before its handler runs.
 */
export function guarded(
  definition: grpc.ServiceDefinition,
  implementation: Record<string, Handler>,
  access: Access,
  reads: ReadonlySet<string>,
): grpc.UntypedServiceImplementation {
  const guardedHandlers: Record<string, Handler> = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = implementation[name];
    if (!handler) throw new Error(`the gRPC method ${name} has no handler`);
    const needs: Grant = reads.has(name) ? 'read' : 'trade';
    const unary = !method.responseStream;
    guardedHandlers[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback) => {
      const authorization = call.metadata.get('authorization')[0];
      access
        .admit(
          typeof authorization === 'string' ? authorization : undefined,
          peerAddress(call.getPeer()),
          needs,
        )
        .then((admission) => {
          if (admission.ok) handler(call, callback);
          else if (unary) callback(refusalStatus(admission));
          else
            (call as unknown as grpc.ServerWritableStream<unknown, unknown>).emit(
              'error',
              refusalStatus(admission),
            );
        })
        .catch(() => {
          const failed = {
            code: grpc.status.INTERNAL,
            details: 'unexpected error; see the engine log',
          };
          if (unary) callback(failed);
          else
            (call as unknown as grpc.ServerWritableStream<unknown, unknown>).emit('error', failed);
        });
    };
  }
  guardedImplementations.add(guardedHandlers);
  return guardedHandlers as grpc.UntypedServiceImplementation;
}
