import type { TradingStore } from '@tse/adapter';
import type { FastifyInstance } from 'fastify';
import {
  orderQuery,
  positionQuery,
  split,
  strategyQuery,
  tradeQuery,
} from '../application/inputs.ts';

/** Read routes over the instance's records: listings page with limit (1-1000) and offset. */
export function recordRoutes(store: () => TradingStore) {
  return async (app: FastifyInstance) => {
    app.get('/orders', async (request) => {
      const { filter, page } = split(orderQuery.parse(request.query));
      return { orders: await store().orders.list(filter, page) };
    });
    app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
      const order = await store().orders.get(request.params.id);
      return (
        order ??
        reply.code(404).send({
          error: 'Not Found',
          message: `order ${JSON.stringify(request.params.id)} does not exist`,
        })
      );
    });
    app.get('/trades', async (request) => {
      const { filter, page } = split(tradeQuery.parse(request.query));
      return { trades: await store().trades.list(filter, page) };
    });
    app.get('/positions', async (request) => {
      const { filter, page } = split(positionQuery.parse(request.query));
      return { positions: await store().positions.list(filter, page) };
    });
    app.get('/strategies', async (request) => {
      const { filter, page } = split(strategyQuery.parse(request.query));
      return { strategies: await store().strategies.list(filter, page) };
    });
  };
}
