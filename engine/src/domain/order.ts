import type { OrderRecord } from '@tse/adapter';
import { Dec, money } from './decimal.ts';
import { DomainError } from './errors.ts';

export type OrderStatus = OrderRecord['status'];

/** Where an order may go from each status; the final ones go nowhere. */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['submitted', 'rejected', 'cancelled'],
  submitted: ['accepted', 'rejected', 'cancelled', 'expired'],
  accepted: ['partially_filled', 'filled', 'cancelled', 'expired'],
  partially_filled: ['partially_filled', 'filled', 'cancelled', 'expired'],
  filled: [],
  cancelled: [],
  rejected: [],
  expired: [],
};

/** True once an order can change no more. */
export function isFinal(status: OrderStatus): boolean {
  return ORDER_TRANSITIONS[status].length === 0;
}

/**
 * The order moved to `to` at `at`, with the matching timestamp set; a move
 * the lifecycle does not allow throws a DomainError saying from where to where.
 */
export function transition(
  order: OrderRecord,
  to: OrderStatus,
  at: string,
  errorMessage?: string,
): OrderRecord {
  if (!ORDER_TRANSITIONS[order.status].includes(to)) {
    throw new DomainError(
      'INVALID_TRANSITION',
      `order ${order.order_id} cannot go from ${order.status} to ${to}`,
    );
  }
  return {
    ...order,
    status: to,
    updated_at: at,
    ...(to === 'submitted' && { submitted_at: at }),
    ...(to === 'filled' && { filled_at: at }),
    ...(to === 'cancelled' && { cancelled_at: at }),
    ...(errorMessage !== undefined && { error_message: errorMessage }),
  };
}

/**
 * The order after a fill of `quantity` at `price`: filled and remaining
 * quantities, the volume-weighted average fill price, and the status
 * (partially_filled or filled). Only accepted or partially filled orders
 * fill, and never beyond what remains.
 */
export function fill(order: OrderRecord, quantity: string, price: string, at: string): OrderRecord {
  if (order.status !== 'accepted' && order.status !== 'partially_filled') {
    throw new DomainError(
      'INVALID_FILL',
      `order ${order.order_id} is ${order.status}; only accepted orders fill`,
    );
  }
  const size = new Dec(quantity);
  const remaining = new Dec(order.remaining_quantity);
  if (size.lte(0) || size.gt(remaining)) {
    throw new DomainError(
      'INVALID_FILL',
      `a fill of ${quantity} does not fit the ${order.remaining_quantity} that remains of order ${order.order_id}`,
    );
  }
  const filledBefore = new Dec(order.filled_quantity);
  const filled = filledBefore.plus(size);
  const averageBefore = new Dec(order.average_fill_price ?? 0);
  const average = averageBefore.times(filledBefore).plus(size.times(price)).div(filled);
  const done = filled.eq(order.quantity);
  return transition(
    {
      ...order,
      filled_quantity: money(filled),
      remaining_quantity: money(remaining.minus(size)),
      average_fill_price: money(average),
    },
    done ? 'filled' : 'partially_filled',
    at,
  );
}
