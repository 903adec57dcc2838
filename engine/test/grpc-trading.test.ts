import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startEngine } from '../src/engine.ts';
import { loadProtos } from '../src/grpc/server.ts';
import { config, logLines, TOKENS, withToken } from './helpers.ts';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
let engine: Engine;
let trading: Client;

beforeAll(async () => {
  engine = await startEngine(config(), { host: '127.0.0.1', logDestination: logLines().stream });
  const protos = loadProtos(['tse/engine/v1/trading.proto']) as unknown as {
    tse: { engine: { v1: { Trading: grpc.ServiceClientConstructor } } };
  };
  trading = new protos.tse.engine.v1.Trading(
    `127.0.0.1:${engine.ports.grpc}`,
    grpc.credentials.createInsecure(),
    { interceptors: [withToken(TOKENS.trade)] },
  ) as unknown as Client;
});

afterAll(async () => {
  trading.close();
  await engine.stop();
});

const call = <T = Record<string, unknown>>(method: string, request: unknown) =>
  new Promise<T>((resolve, reject) =>
    trading[method]?.(request, (error: Error | null, reply: T) =>
      error ? reject(error) : resolve(reply),
    ),
  );

describe('the gRPC trading API', () => {
  it('places, lists and streams orders as the HTTP API does', async () => {
    const events: string[] = [];
    const stream = trading.StreamOrderEvents?.({}) as grpc.ClientReadableStream<{
      type: string;
      order: { status: string };
    }>;
    stream.on('data', (event) => events.push(`${event.type}:${event.order.status}`));
    stream.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 100));

    await call('PublishMarketData', { instrument_id: 'BTC-USD', price: '100' });
    const order = await call<{ order_id: string; status: string; price: string }>('PlaceOrder', {
      instrument_id: 'BTC-USD',
      side: 'buy',
      order_type: 'market',
      quantity: '2',
    });
    expect(order).toMatchObject({ status: 'filled', price: '' });
    expect(await call('GetOrder', { order_id: order.order_id })).toMatchObject({
      order_id: order.order_id,
      filled_quantity: '2',
    });
    expect(
      (await call<{ orders: unknown[] }>('ListOrders', { instrument_id: 'BTC-USD' })).orders,
    ).toHaveLength(1);
    expect(
      (await call<{ positions: { quantity: string }[] }>('ListPositions', {})).positions[0]
        ?.quantity,
    ).toBe('2');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual(['placed:accepted', 'filled:filled']);
    stream.cancel();
  });

  it('answers bad input with INVALID_ARGUMENT, forbidden moves with FAILED_PRECONDITION, unknown orders with NOT_FOUND', async () => {
    await expect(
      call('PlaceOrder', { instrument_id: 'X', side: 'hold', quantity: '1' }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/side must be one of buy, sell/),
    });
    const filled = await call<{ order_id: string }>('PlaceOrder', {
      instrument_id: 'BTC-USD',
      side: 'sell',
      quantity: '1',
    });
    await expect(call('CancelOrder', { order_id: filled.order_id })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
    });
    await expect(call('GetOrder', { order_id: 'nope' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('runs strategies', async () => {
    const strategy = await call<{ strategy_id: string; status: string; parameters: string }>(
      'CreateStrategy',
      {
        name: 'mm',
        strategy_type: 'market_making',
        instruments: ['ETH-USD'],
        parameters: JSON.stringify({ spread_bps: 50 }),
      },
    );
    expect(JSON.parse(strategy.parameters)).toEqual({ spread_bps: 50 });
    expect(await call('StartStrategy', { strategy_id: strategy.strategy_id })).toMatchObject({
      status: 'active',
    });
    expect(
      (await call<{ strategies: unknown[] }>('ListStrategies', { status: 'active' })).strategies,
    ).toHaveLength(1);
  });
});
