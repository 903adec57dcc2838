import type { PositionRecord } from '@tse/adapter';
import { Dec, money } from './decimal.ts';

/** A position with nothing in it yet, for a strategy (or none) and an instrument. */
export function flatPosition(
  ids: Pick<PositionRecord, 'position_id' | 'strategy_id' | 'instrument_id'>,
  at: string,
): PositionRecord {
  return {
    ...ids,
    quantity: '0',
    average_entry_price: '0',
    current_price: null,
    market_value: '0',
    unrealized_pnl: '0',
    realized_pnl: '0',
    total_pnl: '0',
    cost_basis: '0',
    exposure: '0',
    opened_at: at,
    last_updated: at,
    closed_at: null,
    created_at: at,
    updated_at: at,
    notes: null,
  };
}

/** What a position needs to know of a trade. */
export interface Execution {
  side: 'buy' | 'sell';
  quantity: string;
  price: string;
  executed_at: string;
}

/**
 * The position after a trade, and the PnL the trade realised. Quantity is
 * signed (long > 0, short < 0). Adding to a position moves the average entry
 * price; reducing it realises (price - entry) per unit closed, in the
 * position's direction; going through zero opens the rest at the trade price.
 */
export function applyExecution(
  position: PositionRecord,
  execution: Execution,
): { position: PositionRecord; realized: string } {
  const held = new Dec(position.quantity);
  const entry = new Dec(position.average_entry_price);
  const traded = new Dec(execution.quantity).times(execution.side === 'buy' ? 1 : -1);
  const price = new Dec(execution.price);
  const quantity = held.plus(traded);

  let average = entry;
  let realized = new Dec(0);
  if (held.isZero() || held.isPositive() === traded.isPositive()) {
    average = held.abs().times(entry).plus(traded.abs().times(price)).div(quantity.abs());
  } else {
    const closed = Dec.min(held.abs(), traded.abs());
    realized = closed.times(price.minus(entry)).times(held.isPositive() ? 1 : -1);
    if (quantity.isZero()) average = new Dec(0);
    else if (quantity.isPositive() !== held.isPositive()) average = price;
  }
  const next: PositionRecord = {
    ...position,
    quantity: money(quantity),
    average_entry_price: money(average),
    realized_pnl: money(new Dec(position.realized_pnl).plus(realized)),
    last_updated: execution.executed_at,
    updated_at: execution.executed_at,
    closed_at: quantity.isZero() ? execution.executed_at : null,
  };
  return { position: markToMarket(next, execution.price), realized: money(realized) };
}

/** The position valued at a market price: market value, unrealized and total PnL, cost basis, exposure. */
export function markToMarket(position: PositionRecord, price: string): PositionRecord {
  const quantity = new Dec(position.quantity);
  const entry = new Dec(position.average_entry_price);
  const unrealized = new Dec(price).minus(entry).times(quantity);
  return {
    ...position,
    current_price: money(price),
    market_value: money(quantity.times(price)),
    unrealized_pnl: money(unrealized),
    total_pnl: money(unrealized.plus(position.realized_pnl)),
    cost_basis: money(quantity.abs().times(entry)),
    exposure: money(quantity.abs().times(price)),
  };
}
