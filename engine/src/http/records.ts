import {
  type Filter,
  ORDER_SIDES,
  ORDER_STATUSES,
  page,
  STRATEGY_STATUSES,
  type TradingStore,
} from '@tse/adapter';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

const orderQuery = page.extend({
  status: z.enum(ORDER_STATUSES).optional(),
  side: z.enum(ORDER_SIDES).optional(),
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
});
const tradeQuery = page.extend({
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
  order_id: z.string().min(1).optional(),
});
const positionQuery = page.extend({
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
});
const strategyQuery = page.extend({ status: z.enum(STRATEGY_STATUSES).optional() });

/** Splits a parsed query into its filter and its page. */
function split<Q extends { limit: number; offset: number }>(query: Q) {
  const { limit, offset, ...filter } = query;
  return { filter: filter as Filter<never>, page: { limit, offset } };
}

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
