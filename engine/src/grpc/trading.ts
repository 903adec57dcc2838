import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { StoreUnavailableError, type TradingStore, ValidationError } from '@tse/adapter';
import { ZodError, type z } from 'zod';
import type { Access } from '../access/auth.ts';
import type { StreamGate } from '../access/limits.ts';
import {
  idInput,
  marketDataInput,
  newOrderInput,
  newStrategyInput,
  orderQuery,
  positionQuery,
  split,
  strategyQuery,
  tradeQuery,
} from '../application/inputs.ts';
import { NotFoundError, type OrderEvent, type TradingService } from '../application/trading.ts';
import { DomainError } from '../domain/errors.ts';
import { describeZodError } from '../http/app.ts';
import type { EngineStatus } from '../status.ts';
import { addService, guarded } from './guard.ts';
import { loadProtos, STREAMS_FULL } from './server.ts';

type Message = Record<string, unknown>;
type Unary = (
  call: grpc.ServerUnaryCall<Message, unknown>,
  callback: grpc.sendUnaryData<unknown>,
) => void;

export interface TradingGrpcDependencies {
  trading: TradingService;
  store: () => TradingStore;
  status: EngineStatus;
  /** Why writes are refused now (PostgreSQL down, standing by), or undefined. */
  refusal: () => string | undefined;
  /** Emits `event` for every order event. */
  events: EventEmitter;
  /** Who may call which RPC, and how often. */
  access: Access;
  /** Order event streams open at once. */
  streams: StreamGate;
}

/** The RPCs the read-only grant may call; every other one (one added later too) needs the trading grant. */
export const READ_RPCS: ReadonlySet<string> = new Set([
  'GetOrder',
  'ListOrders',
  'ListTrades',
  'ListPositions',
  'ListStrategies',
  'StreamOrderEvents',
]);

/** The gRPC Trading service: the HTTP API's operations, and a stream of order events. */
export function tradingGrpcService(deps: TradingGrpcDependencies) {
  const protos = loadProtos(['tse/engine/v1/trading.proto']) as unknown as {
    tse: { engine: { v1: { Trading: grpc.ServiceClientConstructor } } };
  };
  const unary =
    (work: (request: Message) => Promise<unknown>, write = false): Unary =>
    (call, callback) => {
      const refused = write ? deps.refusal() : undefined;
      if (refused) {
        callback({ code: grpc.status.UNAVAILABLE, details: refused });
        return;
      }
      Promise.resolve(call.request)
        .then((request) => work(withoutEmpty(request)))
        .then(
          (reply) => callback(null, toWire(reply)),
          (error) => callback(toStatus(error)),
        );
    };
  // proto3 sends 0 for an unset limit or offset: the listing defaults apply then.
  const listing = <S extends z.ZodType<{ limit: number; offset: number }>>(
    schema: S,
    request: Message,
  ) =>
    split(
      schema.parse({
        ...request,
        limit: request.limit || undefined,
        offset: request.offset || undefined,
      }),
    );

  const id = (request: Message, field: string) => idInput(field).parse(request[field]);

  const service = protos.tse.engine.v1.Trading.service;
  return (server: grpc.Server) => {
    addService(
      server,
      service,
      guarded(
        service,
        {
          PlaceOrder: unary(
            (request) => deps.trading.placeOrder(newOrderInput.parse(request)),
            true,
          ),
          CancelOrder: unary((request) => deps.trading.cancelOrder(id(request, 'order_id')), true),
          GetOrder: unary(async (request) => {
            const order = await deps.store().orders.get(id(request, 'order_id'));
            if (!order)
              throw new NotFoundError(`order ${JSON.stringify(request.order_id)} does not exist`);
            return order;
          }),
          ListOrders: unary(async (request) => {
            const { filter, page } = listing(orderQuery, request);
            return { orders: await deps.store().orders.list(filter, page) };
          }),
          ListTrades: unary(async (request) => {
            const { filter, page } = listing(tradeQuery, request);
            return { trades: await deps.store().trades.list(filter, page) };
          }),
          ListPositions: unary(async (request) => {
            const { filter, page } = listing(positionQuery, request);
            return { positions: await deps.store().positions.list(filter, page) };
          }),
          PublishMarketData: unary(async (request) => {
            const { instrument_id, price } = marketDataInput.parse(request);
            const { filled } = await deps.trading.marketData(instrument_id, price);
            return {
              instrument_id,
              price: deps.trading.price(instrument_id),
              filled_orders: filled.map((order) => order.order_id),
            };
          }, true),
          CreateStrategy: unary(async (request) => {
            const parameters = request.parameters ? JSON.parse(String(request.parameters)) : {};
            return deps.trading.createStrategy(newStrategyInput.parse({ ...request, parameters }));
          }, true),
          StartStrategy: unary(
            (request) => deps.trading.strategyCommand(id(request, 'strategy_id'), 'start'),
            true,
          ),
          StopStrategy: unary(
            (request) => deps.trading.strategyCommand(id(request, 'strategy_id'), 'stop'),
            true,
          ),
          PauseStrategy: unary(
            (request) => deps.trading.strategyCommand(id(request, 'strategy_id'), 'pause'),
            true,
          ),
          ListStrategies: unary(async (request) => {
            const { filter, page } = listing(strategyQuery, request);
            return { strategies: await deps.store().strategies.list(filter, page) };
          }),
          StreamOrderEvents(call: grpc.ServerWritableStream<Message, unknown>) {
            const release = deps.streams.tryOpen();
            if (!release) {
              call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: STREAMS_FULL });
              return;
            }
            const send = (event: OrderEvent) => call.write(toWire(event));
            const end = () => {
              if (deps.status.draining()) call.end();
            };
            deps.events.on('event', send);
            deps.status.on('change', end);
            const stop = () => {
              deps.events.off('event', send);
              deps.status.off('change', end);
              release();
            };
            for (const event of ['cancelled', 'close', 'finish', 'error']) call.on(event, stop);
          },
        },
        deps.access,
        READ_RPCS,
      ),
    );
  };
}

/** proto3 has no "unset" for strings: an empty one means absent. */
function withoutEmpty(message: Message): Message {
  return Object.fromEntries(
    Object.entries(message).filter(
      ([, value]) => value !== '' && !(Array.isArray(value) && value.length === 0),
    ),
  );
}

/** Records on the wire: null becomes "", parameters become JSON. */
function toWire(value: unknown): unknown {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [
      key,
      key === 'parameters' && typeof field === 'object' ? JSON.stringify(field) : toWire(field),
    ]),
  );
}

function toStatus(error: unknown): Partial<grpc.StatusObject> {
  if (error instanceof ZodError)
    return { code: grpc.status.INVALID_ARGUMENT, details: describeZodError(error) };
  if (error instanceof ValidationError || error instanceof SyntaxError)
    return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
  if (error instanceof NotFoundError)
    return { code: grpc.status.NOT_FOUND, details: error.message };
  if (error instanceof DomainError)
    return { code: grpc.status.FAILED_PRECONDITION, details: error.message };
  // The cause names hosts and drivers: the engine's log has it, the client does not.
  if (error instanceof StoreUnavailableError)
    return { code: grpc.status.UNAVAILABLE, details: `${error.store} is unavailable` };
  return { code: grpc.status.INTERNAL, details: 'unexpected error; see the engine log' };
}
