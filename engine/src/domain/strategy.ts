import type { StrategyRecord } from '@tse/adapter';
import { Dec, money } from './decimal.ts';
import { DomainError } from './errors.ts';

export type StrategyStatus = StrategyRecord['status'];
export type StrategyCommand = 'start' | 'pause' | 'stop';

const COMMANDS: Record<StrategyCommand, { from: readonly StrategyStatus[]; to: StrategyStatus }> = {
  start: { from: ['inactive', 'paused', 'stopped'], to: 'active' },
  pause: { from: ['active'], to: 'paused' },
  stop: { from: ['inactive', 'active', 'paused'], to: 'stopped' },
};

/** The strategy after a start, pause or stop; a command its status does not allow throws. */
export function command(
  strategy: StrategyRecord,
  name: StrategyCommand,
  at: string,
): StrategyRecord {
  const { from, to } = COMMANDS[name];
  if (!from.includes(strategy.status)) {
    throw new DomainError(
      'INVALID_TRANSITION',
      `strategy ${strategy.strategy_id} is ${strategy.status} and cannot ${name}`,
    );
  }
  return {
    ...strategy,
    status: to,
    updated_at: at,
    ...(name === 'start' && { started_at: at, stopped_at: null }),
    ...(name === 'stop' && { stopped_at: at }),
  };
}

/**
 * The strategy's running figures after a fill: one more trade, the realised
 * PnL added to the total and to today's (which starts again at zero on a
 * new UTC day), so the daily loss limit sees today's losses.
 */
export function recordFill(strategy: StrategyRecord, realized: string, at: string): StrategyRecord {
  const sameDay = strategy.updated_at.slice(0, 10) === at.slice(0, 10);
  return {
    ...strategy,
    total_trades: strategy.total_trades + 1,
    total_pnl: money(new Dec(strategy.total_pnl).plus(realized)),
    daily_pnl: money(new Dec(sameDay ? strategy.daily_pnl : 0).plus(realized)),
    updated_at: at,
  };
}

/** One quote a market maker wants working. */
export interface Quote {
  side: 'buy' | 'sell';
  price: string;
  quantity: string;
}

/**
 * A market maker's two quotes around the market price: `spread_bps` apart
 * on each side (default 10), `quote_size` each (default 1), and only the
 * sides that keep the position within `max_position_size`.
 */
export function marketMakingQuotes(
  strategy: StrategyRecord,
  market: string,
  position: string,
): Quote[] {
  const spread = new Dec(String(strategy.parameters.spread_bps ?? 10)).div(10_000);
  const size = new Dec(String(strategy.parameters.quote_size ?? 1));
  const held = new Dec(position);
  const limit =
    strategy.max_position_size === null ? undefined : new Dec(strategy.max_position_size);
  const quotes: Quote[] = [];
  if (!limit || held.plus(size).lte(limit)) {
    quotes.push({
      side: 'buy',
      price: money(new Dec(market).times(new Dec(1).minus(spread))),
      quantity: money(size),
    });
  }
  if (!limit || held.minus(size).abs().lte(limit) || held.minus(size).gte(0)) {
    quotes.push({
      side: 'sell',
      price: money(new Dec(market).times(new Dec(1).plus(spread))),
      quantity: money(size),
    });
  }
  return quotes;
}
