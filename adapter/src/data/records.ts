import { z } from 'zod';

// The stored shapes of the engine's models, with the original Python
// adapter's field names. Money and quantities are decimal strings (NUMERIC
// 20,8 in PostgreSQL), never binary floating point; times are ISO 8601 UTC.

const decimal = z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a decimal number');
const timestamp = z.iso.datetime({ offset: true });
const optionalTimestamp = timestamp.nullable();

/** The one spelling of a decimal: no trailing zeros, no "-0", so stores compare equal. */
export function canonicalDecimal(value: string): string {
  let text = value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value;
  text = text.replace(/^(-?)0+(?=\d)/, '$1');
  return text === '-0' ? '0' : text;
}

/** Which fields of a schema are decimals and which are times: worked out once per schema. */
const fieldKinds = new WeakMap<z.ZodObject, { decimals: string[]; timestamps: string[] }>();
function kindsOf(schema: z.ZodObject): { decimals: string[]; timestamps: string[] } {
  let kinds = fieldKinds.get(schema);
  if (!kinds) {
    kinds = { decimals: [], timestamps: [] };
    for (const [field, fieldSchema] of Object.entries(schema.shape)) {
      const base = fieldSchema instanceof z.ZodNullable ? fieldSchema.unwrap() : fieldSchema;
      if (base === decimal) kinds.decimals.push(field);
      else if (base === timestamp) kinds.timestamps.push(field);
    }
    fieldKinds.set(schema, kinds);
  }
  return kinds;
}

/**
 * Brings a record to the one spelling both stores return: decimals without
 * trailing zeros, times as ISO 8601 UTC with milliseconds.
 */
export function canonicalRecord<T extends Record<string, unknown>>(
  schema: z.ZodObject,
  record: T,
): T {
  const out: Record<string, unknown> = { ...record };
  const { decimals, timestamps } = kindsOf(schema);
  for (const field of decimals) {
    const value = out[field];
    if (typeof value === 'string') out[field] = canonicalDecimal(value);
  }
  for (const field of timestamps) {
    const value = out[field];
    if (typeof value === 'string') out[field] = new Date(value).toISOString();
  }
  return out as T;
}

export const STRATEGY_TYPES = [
  'market_making',
  'trend_following',
  'mean_reversion',
  'arbitrage',
  'momentum',
  'custom',
] as const;
export const STRATEGY_STATUSES = ['inactive', 'active', 'paused', 'stopped', 'error'] as const;
export const ORDER_SIDES = ['buy', 'sell'] as const;
export const ORDER_TYPES = ['market', 'limit', 'stop', 'stop_limit'] as const;
export const ORDER_STATUSES = [
  'pending',
  'submitted',
  'accepted',
  'partially_filled',
  'filled',
  'cancelled',
  'rejected',
  'expired',
] as const;
export const TIMES_IN_FORCE = ['gtc', 'ioc', 'fok', 'day'] as const;

export const strategyRecord = z.object({
  strategy_id: z.string().min(1),
  name: z.string().min(1),
  strategy_type: z.enum(STRATEGY_TYPES),
  status: z.enum(STRATEGY_STATUSES),
  parameters: z.record(z.string(), z.unknown()),
  instruments: z.array(z.string()),
  max_position_size: decimal.nullable(),
  max_daily_loss: decimal.nullable(),
  max_leverage: decimal.nullable(),
  total_pnl: decimal,
  daily_pnl: decimal,
  total_trades: z.number().int().nonnegative(),
  started_at: optionalTimestamp,
  stopped_at: optionalTimestamp,
  created_at: timestamp,
  updated_at: timestamp,
});
export type StrategyRecord = z.infer<typeof strategyRecord>;

export const orderRecord = z.object({
  order_id: z.string().min(1),
  strategy_id: z.string().nullable(),
  instrument_id: z.string().min(1),
  side: z.enum(ORDER_SIDES),
  order_type: z.enum(ORDER_TYPES),
  status: z.enum(ORDER_STATUSES),
  time_in_force: z.enum(TIMES_IN_FORCE),
  quantity: decimal,
  filled_quantity: decimal,
  remaining_quantity: decimal,
  price: decimal.nullable(),
  stop_price: decimal.nullable(),
  average_fill_price: decimal.nullable(),
  exchange_order_id: z.string().nullable(),
  execution_venue: z.string().nullable(),
  commission: decimal,
  realized_pnl: decimal,
  error_message: z.string().nullable(),
  created_at: timestamp,
  submitted_at: optionalTimestamp,
  filled_at: optionalTimestamp,
  cancelled_at: optionalTimestamp,
  updated_at: timestamp,
});
export type OrderRecord = z.infer<typeof orderRecord>;

export const tradeRecord = z.object({
  trade_id: z.string().min(1),
  order_id: z.string().min(1),
  strategy_id: z.string().nullable(),
  instrument_id: z.string().min(1),
  side: z.enum(ORDER_SIDES),
  quantity: decimal,
  price: decimal,
  gross_value: decimal,
  commission: decimal,
  net_value: decimal,
  exchange_trade_id: z.string().nullable(),
  execution_venue: z.string().nullable(),
  liquidity_flag: z.string().nullable(),
  realized_pnl: decimal,
  executed_at: timestamp,
  created_at: timestamp,
  notes: z.string().nullable(),
});
export type TradeRecord = z.infer<typeof tradeRecord>;

export const positionRecord = z.object({
  position_id: z.string().min(1),
  strategy_id: z.string().nullable(),
  instrument_id: z.string().min(1),
  quantity: decimal,
  average_entry_price: decimal,
  current_price: decimal.nullable(),
  market_value: decimal,
  unrealized_pnl: decimal,
  realized_pnl: decimal,
  total_pnl: decimal,
  cost_basis: decimal,
  exposure: decimal,
  opened_at: timestamp,
  last_updated: timestamp,
  closed_at: optionalTimestamp,
  created_at: timestamp,
  updated_at: timestamp,
  notes: z.string().nullable(),
});
export type PositionRecord = z.infer<typeof positionRecord>;

/** A page of a listing: `limit` 1-1000 (default 100) and `offset`. */
export const page = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
export type Page = z.infer<typeof page>;
