import {
  orderRecord,
  positionRecord,
  strategyRecord,
  type TradingStore,
  tradeRecord,
} from '@tse/adapter';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  idParams,
  orderQuery,
  positionQuery,
  split,
  strategyQuery,
  tradeQuery,
} from '../application/inputs.ts';
import { apiError } from './openapi.ts';

/** Read routes over the instance's records: listings page with limit (1-1000) and offset. */
export function recordRoutes(store: () => TradingStore) {
  return async (scope: FastifyInstance) => {
    const app = scope.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/orders',
      {
        schema: {
          summary: 'List orders, newest first',
          operationId: 'listOrders',
          tags: ['orders'],
          querystring: orderQuery,
          response: {
            200: z.object({ orders: z.array(orderRecord) }).describe('a page of orders'),
          },
        },
      },
      async (request) => {
        const { filter, page } = split(request.query);
        return { orders: await store().orders.list(filter, page) };
      },
    );
    app.get(
      '/orders/:id',
      {
        schema: {
          summary: 'Get an order',
          operationId: 'getOrder',
          tags: ['orders'],
          params: idParams,
          response: {
            200: orderRecord.describe('the order'),
            404: apiError.describe('no order has this id'),
          },
        },
      },
      async (request, reply) => {
        const order = await store().orders.get(request.params.id);
        if (order) return order;
        return reply.code(404).send({
          error: 'Not Found',
          message: `order ${JSON.stringify(request.params.id)} does not exist`,
        });
      },
    );
    app.get(
      '/trades',
      {
        schema: {
          summary: 'List trades (fills)',
          operationId: 'listTrades',
          tags: ['trades'],
          querystring: tradeQuery,
          response: {
            200: z.object({ trades: z.array(tradeRecord) }).describe('a page of trades'),
          },
        },
      },
      async (request) => {
        const { filter, page } = split(request.query);
        return { trades: await store().trades.list(filter, page) };
      },
    );
    app.get(
      '/positions',
      {
        schema: {
          summary: 'List positions',
          operationId: 'listPositions',
          tags: ['positions'],
          querystring: positionQuery,
          response: {
            200: z.object({ positions: z.array(positionRecord) }).describe('a page of positions'),
          },
        },
      },
      async (request) => {
        const { filter, page } = split(request.query);
        return { positions: await store().positions.list(filter, page) };
      },
    );
    app.get(
      '/strategies',
      {
        schema: {
          summary: 'List strategies',
          operationId: 'listStrategies',
          tags: ['strategies'],
          querystring: strategyQuery,
          response: {
            200: z.object({ strategies: z.array(strategyRecord) }).describe('a page of strategies'),
          },
        },
      },
      async (request) => {
        const { filter, page } = split(request.query);
        return { strategies: await store().strategies.list(filter, page) };
      },
    );
  };
}
