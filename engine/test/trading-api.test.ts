import { afterEach, describe, expect, it } from 'vitest';
import { type Engine, startEngine } from '../src/engine.ts';
import { bearer, config, logLines, TOKENS } from './helpers.ts';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.stop();
});

async function engine(env: Record<string, string> = {}) {
  const started = await startEngine(config(env), {
    host: '127.0.0.1',
    logDestination: logLines().stream,
  });
  engines.push(started);
  const request = async (method: string, url: string, payload?: unknown) => {
    const response = await started.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: bearer(TOKENS.trade) },
      ...(payload !== undefined && { payload: payload as object }),
    });
    return { status: response.statusCode, body: response.json() };
  };
  return { request, engine: started };
}

describe('the trading API (in memory)', () => {
  it('fills a market order at the market price, with its trade and position', async () => {
    const { request } = await engine();
    expect(
      (await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '100.5' }))
        .status,
    ).toBe(200);
    const placed = await request('POST', '/api/v1/orders', {
      instrument_id: 'BTC-USD',
      side: 'buy',
      quantity: 2,
    });
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({
      status: 'filled',
      filled_quantity: '2',
      remaining_quantity: '0',
      average_fill_price: '100.5',
    });
    expect((await request('GET', `/api/v1/orders/${placed.body.order_id}`)).body.status).toBe(
      'filled',
    );
    expect((await request('GET', '/api/v1/trades')).body.trades).toEqual([
      expect.objectContaining({ quantity: '2', price: '100.5', gross_value: '201' }),
    ]);
    expect((await request('GET', '/api/v1/positions')).body.positions).toEqual([
      expect.objectContaining({ quantity: '2', average_entry_price: '100.5' }),
    ]);
  });

  it('rests a limit order until the price reaches it', async () => {
    const { request } = await engine();
    await request('POST', '/api/v1/market-data', { instrument_id: 'ETH-USD', price: '10' });
    const placed = await request('POST', '/api/v1/orders', {
      instrument_id: 'ETH-USD',
      side: 'buy',
      order_type: 'limit',
      price: '9.5',
      quantity: '1',
    });
    expect(placed.body.status).toBe('accepted');
    const tick = await request('POST', '/api/v1/market-data', {
      instrument_id: 'ETH-USD',
      price: '9.4',
    });
    expect(tick.body.filled_orders).toEqual([placed.body.order_id]);
    expect((await request('GET', `/api/v1/orders/${placed.body.order_id}`)).body).toMatchObject({
      status: 'filled',
      average_fill_price: '9.4',
    });
  });

  it('realises the price difference on a round trip', async () => {
    const { request } = await engine();
    await request('POST', '/api/v1/market-data', { instrument_id: 'SOL-USD', price: '100' });
    await request('POST', '/api/v1/orders', {
      instrument_id: 'SOL-USD',
      side: 'buy',
      quantity: '2',
    });
    await request('POST', '/api/v1/market-data', { instrument_id: 'SOL-USD', price: '105.25' });
    const sold = await request('POST', '/api/v1/orders', {
      instrument_id: 'SOL-USD',
      side: 'sell',
      quantity: '2',
    });
    expect(sold.body).toMatchObject({ status: 'filled', realized_pnl: '10.5' });
    const positions = (await request('GET', '/api/v1/positions?instrument_id=SOL-USD')).body
      .positions;
    expect(positions).toEqual([expect.objectContaining({ quantity: '0', realized_pnl: '10.5' })]);
  });

  it('cancels a resting order, and refuses to cancel a filled or unknown one', async () => {
    const { request } = await engine();
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '100' });
    const resting = await request('POST', '/api/v1/orders', {
      instrument_id: 'BTC-USD',
      side: 'sell',
      order_type: 'limit',
      price: '200',
      quantity: '1',
    });
    expect((await request('DELETE', `/api/v1/orders/${resting.body.order_id}`)).body.status).toBe(
      'cancelled',
    );
    const filled = await request('POST', '/api/v1/orders', {
      instrument_id: 'BTC-USD',
      side: 'buy',
      quantity: '1',
    });
    const refused = await request('DELETE', `/api/v1/orders/${filled.body.order_id}`);
    expect(refused).toEqual({
      status: 409,
      body: expect.objectContaining({
        message: `order ${filled.body.order_id} cannot go from filled to cancelled`,
      }),
    });
    expect((await request('DELETE', '/api/v1/orders/nope')).status).toBe(404);
  });

  it.each([
    [
      { instrument_id: 'X', side: 'buy', quantity: -1 },
      /quantity: quantity must be a positive decimal/,
    ],
    [{ instrument_id: 'X', side: 'hold', quantity: 1 }, /side: side must be one of buy, sell/],
    [
      { instrument_id: 'X', side: 'buy', quantity: 1, order_type: 'limit' },
      /price: a limit order needs a price/,
    ],
    [{ instrument_id: 'X', side: 'buy', quantity: '0.000000001' }, /at most 8 places/],
    [{ instrument_id: 'X', side: 'buy', quantity: 1, leverage: 10 }, /Unrecognized key/],
  ])('answers bad input %j with 400 and a clear message', async (payload, message) => {
    const { request } = await engine();
    const response = await request('POST', '/api/v1/orders', payload);
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(message);
  });

  it('rejects an order that breaches MAX_POSITION_SIZE, with the reason on the order', async () => {
    const { request } = await engine({ MAX_POSITION_SIZE: '5' });
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '100' });
    const order = await request('POST', '/api/v1/orders', {
      instrument_id: 'BTC-USD',
      side: 'buy',
      quantity: '6',
    });
    expect(order.status).toBe(201);
    expect(order.body).toMatchObject({
      status: 'rejected',
      error_message:
        'the order would take the position to 6, beyond the maximum position size of 5',
    });
  });
});

describe('strategies', () => {
  it('start, pause and stop, refusing commands their status does not allow', async () => {
    const { request } = await engine();
    const created = await request('POST', '/api/v1/strategies', {
      name: 'mm',
      strategy_type: 'market_making',
      instruments: ['BTC-USD'],
    });
    expect(created).toMatchObject({ status: 201, body: { status: 'inactive' } });
    const id = created.body.strategy_id;
    expect((await request('POST', `/api/v1/strategies/${id}/start`)).body.status).toBe('active');
    expect((await request('POST', `/api/v1/strategies/${id}/pause`)).body.status).toBe('paused');
    expect(await request('POST', `/api/v1/strategies/${id}/pause`)).toMatchObject({
      status: 409,
      body: { message: `strategy ${id} is paused and cannot pause` },
    });
    expect((await request('POST', `/api/v1/strategies/${id}/stop`)).body.status).toBe('stopped');
    expect((await request('GET', '/api/v1/strategies')).body.strategies).toEqual([
      expect.objectContaining({ strategy_id: id, status: 'stopped' }),
    ]);
    expect(
      (
        await request('POST', '/api/v1/strategies', {
          name: 'x',
          strategy_type: 'scalping',
          instruments: ['A'],
        })
      ).status,
    ).toBe(400);
  });

  it('make markets: quote both sides around the price, re-quote when it moves, stay within the position limit', async () => {
    const { request } = await engine();
    const { body: strategy } = await request('POST', '/api/v1/strategies', {
      name: 'mm-btc',
      strategy_type: 'market_making',
      instruments: ['BTC-USD'],
      parameters: { spread_bps: 100, quote_size: 1 },
      max_position_size: '1',
    });
    await request('POST', `/api/v1/strategies/${strategy.strategy_id}/start`);
    const working = async () =>
      (
        (await request('GET', `/api/v1/orders?strategy_id=${strategy.strategy_id}&status=accepted`))
          .body.orders as { side: string; price: string }[]
      )
        .map((order) => `${order.side}@${order.price}`)
        .sort();

    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '100' });
    expect(await working()).toEqual(['buy@99', 'sell@101']);

    // The price falls through the bid: the buy quote fills, and at the limit only the sell side is quoted again.
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '98' });
    expect(
      (await request('GET', `/api/v1/positions?strategy_id=${strategy.strategy_id}`)).body
        .positions,
    ).toEqual([expect.objectContaining({ quantity: '1' })]);
    expect(await working()).toEqual(['sell@98.98']);

    await request('POST', `/api/v1/strategies/${strategy.strategy_id}/stop`);
    expect(await working()).toEqual([]);
  });
});

describe("a strategy's daily loss limit", () => {
  it('counts realised losses of its fills, then accepts only reducing orders', async () => {
    const { request } = await engine();
    const { body: strategy } = await request('POST', '/api/v1/strategies', {
      name: 'trend',
      strategy_type: 'trend_following',
      instruments: ['BTC-USD'],
      max_daily_loss: '5',
    });
    await request('POST', `/api/v1/strategies/${strategy.strategy_id}/start`);
    const order = (side: string, quantity: string) =>
      request('POST', '/api/v1/orders', {
        instrument_id: 'BTC-USD',
        side,
        quantity,
        strategy_id: strategy.strategy_id,
      });
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '100' });
    await order('buy', '2');
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '97' });
    expect((await order('sell', '1')).body).toMatchObject({ status: 'filled', realized_pnl: '-3' });
    expect((await order('buy', '1')).body).toMatchObject({ status: 'filled' });
    await request('POST', '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '95' });
    expect((await order('sell', '1')).body.realized_pnl).toBe('-3.5');
    const strategies = (await request('GET', '/api/v1/strategies')).body.strategies;
    expect(strategies[0]).toMatchObject({ total_trades: 4, daily_pnl: '-6.5', total_pnl: '-6.5' });
    expect((await order('buy', '1')).body).toMatchObject({
      status: 'rejected',
      error_message: expect.stringMatching(
        /today's loss of 6.5 has reached the maximum daily loss of 5/,
      ),
    });
    expect((await order('sell', '1')).body.status).toBe('filled');
  });
});
