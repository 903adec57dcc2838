import type { OrderRecord } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import { riskRejection } from '../src/domain/risk.ts';
import { decide } from '../src/domain/venue.ts';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const order = (changes: Partial<OrderRecord>): OrderRecord =>
  ({
    order_id: 'o',
    side: 'buy',
    order_type: 'limit',
    time_in_force: 'gtc',
    price: '100',
    stop_price: null,
    created_at: '2026-01-01T09:00:00.000Z',
    ...changes,
  }) as OrderRecord;

describe('the paper venue', () => {
  it.each<[string, Partial<OrderRecord>, string | undefined, ReturnType<typeof decide>]>([
    [
      'a market order at the market price',
      { order_type: 'market', price: null },
      '101',
      { action: 'fill', price: '101' },
    ],
    [
      'a market order with no price yet',
      { order_type: 'market', price: null },
      undefined,
      { action: 'rest' },
    ],
    [
      'a buy limit once the market is at or below it',
      {},
      '99.5',
      { action: 'fill', price: '99.5' },
    ],
    ['a buy limit above the market... not yet', {}, '100.01', { action: 'rest' }],
    [
      'a sell limit once the market is at or above it',
      { side: 'sell' },
      '100',
      { action: 'fill', price: '100' },
    ],
    [
      'a buy stop when the market rises through it',
      { order_type: 'stop', price: null, stop_price: '105' },
      '105',
      { action: 'fill', price: '105' },
    ],
    [
      'a sell stop not yet triggered',
      { order_type: 'stop', side: 'sell', price: null, stop_price: '95' },
      '96',
      { action: 'rest' },
    ],
    [
      'an IOC order that cannot fill',
      { time_in_force: 'ioc' },
      '101',
      { action: 'expire', reason: 'IOC order could not fill at 101' },
    ],
    ['a FOK order that can', { time_in_force: 'fok' }, '100', { action: 'fill', price: '100' }],
    [
      'a DAY order the next day',
      { time_in_force: 'day', created_at: '2025-12-31T23:00:00.000Z' },
      '101',
      { action: 'expire', reason: 'day order past the end of its day' },
    ],
  ])('handles %s', (_, changes, market, expected) => {
    expect(decide(order(changes), market, NOW)).toEqual(expected);
  });
});

describe('risk limits', () => {
  const context = { side: 'buy' as const, quantity: '2', position: '4', dailyPnl: '0' };

  it('refuse an order that would take the position beyond the maximum size', () => {
    expect(riskRejection(context, { maxPositionSize: '5' })).toBe(
      'the order would take the position to 6, beyond the maximum position size of 5',
    );
    expect(
      riskRejection({ ...context, side: 'sell', quantity: '10' }, { maxPositionSize: '5' }),
    ).toBe('the order would take the position to -6, beyond the maximum position size of 5');
    expect(
      riskRejection({ ...context, side: 'sell', quantity: '9' }, { maxPositionSize: '5' }),
    ).toBeUndefined();
  });

  it('let through what stays within the limits', () => {
    expect(riskRejection(context, { maxPositionSize: '6', maxDailyLoss: '100' })).toBeUndefined();
    expect(riskRejection(context, {})).toBeUndefined();
  });

  it('once the daily loss is reached, accept only orders that reduce the position', () => {
    const losing = { ...context, dailyPnl: '-100' };
    expect(riskRejection(losing, { maxDailyLoss: '100' })).toMatch(
      /today's loss of 100 has reached the maximum daily loss of 100/,
    );
    expect(
      riskRejection({ ...losing, side: 'sell', quantity: '3' }, { maxDailyLoss: '100' }),
    ).toBeUndefined();
    expect(
      riskRejection({ ...losing, side: 'sell', quantity: '5' }, { maxDailyLoss: '100' }),
    ).toMatch(/only orders that reduce/);
  });
});
