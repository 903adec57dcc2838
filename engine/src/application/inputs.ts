import {
  type Filter,
  ORDER_SIDES,
  ORDER_STATUSES,
  ORDER_TYPES,
  page,
  STRATEGY_STATUSES,
  STRATEGY_TYPES,
  TIMES_IN_FORCE,
} from '@tse/adapter';
import { z } from 'zod';

// What clients send, validated at the edges (HTTP and gRPC share these).

/** A positive decimal, given as a number or a string; kept as a string so no binary float touches it. */
const positive = (field: string) =>
  z
    .union([z.number(), z.string()])
    .transform((value) => String(value).trim())
    .pipe(
      z
        .string()
        .regex(/^\d+(\.\d{1,8})?$/, `${field} must be a positive decimal with at most 8 places`),
    )
    .refine((value) => Number(value) > 0, `${field} must be greater than 0`);

export const newOrderInput = z
  .object({
    instrument_id: z.string().min(1).max(64),
    side: z.enum(ORDER_SIDES, { error: `side must be one of ${ORDER_SIDES.join(', ')}` }),
    order_type: z
      .enum(ORDER_TYPES, { error: `order_type must be one of ${ORDER_TYPES.join(', ')}` })
      .default('market'),
    time_in_force: z
      .enum(TIMES_IN_FORCE, { error: `time_in_force must be one of ${TIMES_IN_FORCE.join(', ')}` })
      .default('gtc'),
    quantity: positive('quantity'),
    price: positive('price').optional(),
    stop_price: positive('stop_price').optional(),
    strategy_id: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((order, context) => {
    if (
      (order.order_type === 'limit' || order.order_type === 'stop_limit') &&
      order.price === undefined
    ) {
      context.addIssue({
        code: 'custom',
        path: ['price'],
        message: `a ${order.order_type} order needs a price`,
      });
    }
    if (
      (order.order_type === 'stop' || order.order_type === 'stop_limit') &&
      order.stop_price === undefined
    ) {
      context.addIssue({
        code: 'custom',
        path: ['stop_price'],
        message: `a ${order.order_type} order needs a stop_price`,
      });
    }
  });

export const newStrategyInput = z
  .object({
    name: z.string().min(1).max(128),
    strategy_type: z.enum(STRATEGY_TYPES, {
      error: `strategy_type must be one of ${STRATEGY_TYPES.join(', ')}`,
    }),
    instruments: z.array(z.string().min(1).max(64)).min(1).max(100),
    parameters: z.record(z.string(), z.unknown()).default({}),
    max_position_size: positive('max_position_size').optional(),
    max_daily_loss: positive('max_daily_loss').optional(),
    max_leverage: positive('max_leverage').optional(),
  })
  .strict();

export const marketDataInput = z
  .object({ instrument_id: z.string().min(1).max(64), price: positive('price') })
  .strict();

// Listings: a page (limit 1-1000, offset) and equality filters.

export const orderQuery = page.extend({
  status: z.enum(ORDER_STATUSES).optional(),
  side: z.enum(ORDER_SIDES).optional(),
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
});
export const tradeQuery = page.extend({
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
  order_id: z.string().min(1).optional(),
});
export const positionQuery = page.extend({
  strategy_id: z.string().min(1).optional(),
  instrument_id: z.string().min(1).optional(),
});
export const strategyQuery = page.extend({ status: z.enum(STRATEGY_STATUSES).optional() });

/** Splits a parsed query into its filter and its page. */
export function split<Q extends { limit: number; offset: number }>(query: Q) {
  const { limit, offset, ...filter } = query;
  return { filter: filter as Filter<never>, page: { limit, offset } };
}
