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
// Every string, list and map has a bound, so that no input costs more to
// check, keep or log than its meaning needs.

/** Instruments (`BTC-USD`): at most 64 characters. */
export const MAX_INSTRUMENT_LENGTH = 64;
/** Order and strategy ids (UUIDs, 36 characters): at most 64. */
export const MAX_ID_LENGTH = 64;
/** A decimal as text: at most 32 characters. */
export const MAX_DECIMAL_LENGTH = 32;
/** A strategy's name: at most 128 characters. */
export const MAX_NAME_LENGTH = 128;
/** A strategy's instruments: at most 100. */
export const MAX_INSTRUMENTS = 100;
/** A strategy's parameters: at most 32 keys of at most 64 characters, 4 KiB as JSON. */
export const MAX_PARAMETER_KEYS = 32;
export const MAX_PARAMETER_KEY_LENGTH = 64;
export const MAX_PARAMETERS_BYTES = 4096;
/** How far a listing may page: offset at most 1,000,000. */
export const MAX_OFFSET = 1_000_000;

const instrument = () => z.string().min(1).max(MAX_INSTRUMENT_LENGTH);
const id = () => z.string().min(1).max(MAX_ID_LENGTH);

/** An order or strategy id as a client names it (gRPC requests; HTTP paths are bounded by the router). */
export const idInput = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .min(1, { error: `${field} is required` })
    .max(MAX_ID_LENGTH, {
      error: `${field} must be at most ${MAX_ID_LENGTH} characters`,
    });

/** The `:id` of an HTTP path: an order's or a strategy's id. */
export const idParams = z.object({ id: id() }).strict();

/** A positive decimal, given as a number or a string; kept as a string so no binary float touches it. */
const positive = (field: string) =>
  z
    .union([z.number(), z.string()])
    .transform((value) => String(value).trim())
    .pipe(
      z
        .string()
        .max(MAX_DECIMAL_LENGTH, `${field} must be at most ${MAX_DECIMAL_LENGTH} characters`)
        .regex(/^\d+(\.\d{1,8})?$/, `${field} must be a positive decimal with at most 8 places`),
    )
    .refine((value) => Number(value) > 0, `${field} must be greater than 0`);

export const newOrderInput = z
  .object({
    instrument_id: instrument(),
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
    strategy_id: id().optional(),
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
    name: z.string().min(1).max(MAX_NAME_LENGTH),
    strategy_type: z.enum(STRATEGY_TYPES, {
      error: `strategy_type must be one of ${STRATEGY_TYPES.join(', ')}`,
    }),
    instruments: z.array(instrument()).min(1).max(MAX_INSTRUMENTS),
    parameters: z
      .record(z.string().max(MAX_PARAMETER_KEY_LENGTH), z.unknown())
      .refine((parameters) => Object.keys(parameters).length <= MAX_PARAMETER_KEYS, {
        error: `parameters may have at most ${MAX_PARAMETER_KEYS} keys`,
      })
      .refine(
        (parameters) => Buffer.byteLength(JSON.stringify(parameters)) <= MAX_PARAMETERS_BYTES,
        {
          error: `parameters must be at most ${MAX_PARAMETERS_BYTES} bytes as JSON`,
        },
      )
      .default({}),
    max_position_size: positive('max_position_size').optional(),
    max_daily_loss: positive('max_daily_loss').optional(),
    max_leverage: positive('max_leverage').optional(),
  })
  .strict();

export const marketDataInput = z
  .object({ instrument_id: instrument(), price: positive('price') })
  .strict();

// Listings: a page (limit 1-1000, offset up to MAX_OFFSET) and equality filters.

const listing = page.extend({
  offset: z.coerce.number().int().min(0).max(MAX_OFFSET).default(0),
});
export const orderQuery = listing.extend({
  status: z.enum(ORDER_STATUSES).optional(),
  side: z.enum(ORDER_SIDES).optional(),
  strategy_id: id().optional(),
  instrument_id: instrument().optional(),
});
export const tradeQuery = listing.extend({
  strategy_id: id().optional(),
  instrument_id: instrument().optional(),
  order_id: id().optional(),
});
export const positionQuery = listing.extend({
  strategy_id: id().optional(),
  instrument_id: instrument().optional(),
});
export const strategyQuery = listing.extend({ status: z.enum(STRATEGY_STATUSES).optional() });

/** Splits a parsed query into its filter and its page. */
export function split<Q extends { limit: number; offset: number }>(query: Q) {
  const { limit, offset, ...filter } = query;
  return { filter: filter as Filter<never>, page: { limit, offset } };
}
