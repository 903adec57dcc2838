import { Dec } from './decimal.ts';

/** The limits an order is checked against; either may be absent. */
export interface RiskLimits {
  maxPositionSize?: string | null;
  maxDailyLoss?: string | null;
}

/** What the check needs to know of the order and of where the book stands. */
export interface RiskContext {
  side: 'buy' | 'sell';
  quantity: string;
  /** Signed open position in the instrument. */
  position: string;
  /** Realised plus unrealised PnL today (negative is a loss). */
  dailyPnl: string;
}

/**
 * The reason an order breaches a limit, or undefined. An order that would
 * take the position beyond the maximum size is refused; once the day's loss
 * reaches the maximum, only orders that reduce the position pass.
 */
export function riskRejection(order: RiskContext, limits: RiskLimits): string | undefined {
  const held = new Dec(order.position);
  const after = held.plus(new Dec(order.quantity).times(order.side === 'buy' ? 1 : -1));
  const reduces = after.abs().lt(held.abs()) && after.isPositive() === held.isPositive();
  if (limits.maxPositionSize != null && after.abs().gt(limits.maxPositionSize)) {
    return `the order would take the position to ${after.toFixed()}, beyond the maximum position size of ${limits.maxPositionSize}`;
  }
  if (
    limits.maxDailyLoss != null &&
    new Dec(order.dailyPnl).negated().gte(limits.maxDailyLoss) &&
    !reduces
  ) {
    return `today's loss of ${new Dec(order.dailyPnl).negated().toFixed()} has reached the maximum daily loss of ${limits.maxDailyLoss}; only orders that reduce the position are accepted`;
  }
  return undefined;
}
