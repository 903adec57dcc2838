import type { FastifyInstance } from 'fastify';
import { marketDataInput, newOrderInput, newStrategyInput } from '../application/inputs.ts';
import type { TradingService } from '../application/trading.ts';

/** The write side of the trading API: orders and market prices. */
export function tradingRoutes(trading: TradingService) {
  return async (app: FastifyInstance) => {
    app.post('/orders', async (request, reply) => {
      const order = await trading.placeOrder(newOrderInput.parse(request.body));
      return reply.code(201).send(order);
    });
    app.delete<{ Params: { id: string } }>('/orders/:id', async (request) =>
      trading.cancelOrder(request.params.id),
    );
    app.post('/strategies', async (request, reply) =>
      reply.code(201).send(await trading.createStrategy(newStrategyInput.parse(request.body))),
    );
    for (const name of ['start', 'stop', 'pause'] as const) {
      app.post<{ Params: { id: string } }>(`/strategies/:id/${name}`, async (request) =>
        trading.strategyCommand(request.params.id, name),
      );
    }
    app.post('/market-data', async (request) => {
      const { instrument_id, price } = marketDataInput.parse(request.body);
      const { filled } = await trading.marketData(instrument_id, price);
      return {
        instrument_id,
        price: trading.price(instrument_id),
        filled_orders: filled.map((order) => order.order_id),
      };
    });
  };
}
