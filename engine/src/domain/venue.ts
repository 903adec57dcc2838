import type { OrderRecord } from '@tse/adapter';
import { Dec } from './decimal.ts';

/** What the paper venue does with a working order at the current market price. */
export type VenueDecision =
  | { action: 'fill'; price: string }
  | { action: 'rest' }
  | { action: 'expire'; reason: string };

/**
 * The paper venue: market orders fill at the market price; limit orders when
 * the market reaches their price (at the market price, which is never
 * worse); stop orders trigger when the market crosses the stop, then act as
 * market (stop) or limit (stop_limit) orders; the trigger is judged on the
 * current price only, so a stop-limit whose market moves back below its stop
 * before reaching its limit waits for the next trigger. It fills the whole remaining
 * quantity, so FOK behaves as IOC: what cannot fill at once expires. DAY
 * orders expire at the end of their UTC day.
 */
export function decide(order: OrderRecord, market: string | undefined, now: Date): VenueDecision {
  if (
    order.time_in_force === 'day' &&
    now.toISOString().slice(0, 10) > order.created_at.slice(0, 10)
  ) {
    return { action: 'expire', reason: 'day order past the end of its day' };
  }
  const price = market === undefined ? undefined : new Dec(market);
  const buy = order.side === 'buy';
  const reached = (limit: string | null) =>
    price !== undefined && limit !== null && (buy ? price.lte(limit) : price.gte(limit));
  const triggered =
    price !== undefined &&
    order.stop_price !== null &&
    (buy ? price.gte(order.stop_price) : price.lte(order.stop_price));
  let fills = false;
  switch (order.order_type) {
    case 'market':
      fills = price !== undefined;
      break;
    case 'limit':
      fills = reached(order.price);
      break;
    case 'stop':
      fills = triggered;
      break;
    case 'stop_limit':
      fills = triggered && reached(order.price);
      break;
  }
  if (fills && market !== undefined) return { action: 'fill', price: market };
  if (order.time_in_force === 'ioc' || order.time_in_force === 'fok') {
    return {
      action: 'expire',
      reason:
        market === undefined
          ? 'no market price to fill against'
          : `${order.time_in_force.toUpperCase()} order could not fill at ${market}`,
    };
  }
  return { action: 'rest' };
}
