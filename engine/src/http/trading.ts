import { orderRecord, strategyRecord } from '@tse/adapter';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  idParams,
  marketDataInput,
  newOrderInput,
  newStrategyInput,
} from '../application/inputs.ts';
import type { TradingService } from '../application/trading.ts';

/** What publishing a price answers: the price now, and the orders it filled. */
export const marketDataResult = z.object({
  instrument_id: z.string(),
  price: z.string().describe('the price now, as a decimal string'),
  filled_orders: z.array(z.string()).describe('the ids of the orders this price filled'),
});

/** The write side of the trading API: orders, strategies and market prices. */
export function tradingRoutes(trading: TradingService) {
  return async (scope: FastifyInstance) => {
    const app = scope.withTypeProvider<ZodTypeProvider>();
    app.post(
      '/orders',
      {
        schema: {
          summary: 'Place an order',
          operationId: 'placeOrder',
          tags: ['orders'],
          body: newOrderInput,
          response: { 201: orderRecord.describe('the order, as placed (and filled, if it was)') },
        },
      },
      async (request, reply) => reply.code(201).send(await trading.placeOrder(request.body)),
    );
    app.delete(
      '/orders/:id',
      {
        schema: {
          summary: 'Cancel an order',
          operationId: 'cancelOrder',
          tags: ['orders'],
          params: idParams,
          response: { 200: orderRecord.describe('the cancelled order') },
        },
      },
      async (request) => trading.cancelOrder(request.params.id),
    );
    app.post(
      '/strategies',
      {
        schema: {
          summary: 'Create a strategy (inactive until started)',
          operationId: 'createStrategy',
          tags: ['strategies'],
          body: newStrategyInput,
          response: { 201: strategyRecord.describe('the strategy') },
        },
      },
      async (request, reply) => reply.code(201).send(await trading.createStrategy(request.body)),
    );
    for (const name of ['start', 'stop', 'pause'] as const) {
      app.post(
        `/strategies/:id/${name}`,
        {
          schema: {
            summary: `${name[0]?.toUpperCase()}${name.slice(1)} a strategy`,
            operationId: `${name}Strategy`,
            tags: ['strategies'],
            params: idParams,
            response: { 200: strategyRecord.describe('the strategy, in its new status') },
          },
        },
        async (request) => trading.strategyCommand(request.params.id, name),
      );
    }
    app.post(
      '/market-data',
      {
        schema: {
          summary: "Publish an instrument's price; resting orders it reaches are filled",
          operationId: 'publishMarketData',
          tags: ['market data'],
          body: marketDataInput,
          response: { 200: marketDataResult.describe('the price, and what it filled') },
        },
      },
      async (request) => {
        const { instrument_id, price } = request.body;
        const { filled } = await trading.marketData(instrument_id, price);
        return {
          instrument_id,
          price: trading.price(instrument_id) ?? price,
          filled_orders: filled.map((order) => order.order_id),
        };
      },
    );
  };
}
