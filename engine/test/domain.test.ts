import type { OrderRecord, PositionRecord } from '@tse/adapter';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../src/domain/decimal.ts';
import { DomainError } from '../src/domain/errors.ts';
import {
  fill,
  isFinal,
  ORDER_TRANSITIONS,
  type OrderStatus,
  transition,
} from '../src/domain/order.ts';
import { applyExecution, flatPosition, markToMarket } from '../src/domain/position.ts';

const T = '2026-01-01T00:00:00.000Z';
const order = (changes: Partial<OrderRecord> = {}): OrderRecord => ({
  order_id: 'o-1',
  strategy_id: null,
  instrument_id: 'BTC-USD',
  side: 'buy',
  order_type: 'limit',
  status: 'pending',
  time_in_force: 'gtc',
  quantity: '3',
  filled_quantity: '0',
  remaining_quantity: '3',
  price: '100',
  stop_price: null,
  average_fill_price: null,
  exchange_order_id: null,
  execution_venue: 'paper',
  commission: '0',
  realized_pnl: '0',
  error_message: null,
  created_at: T,
  submitted_at: null,
  filled_at: null,
  cancelled_at: null,
  updated_at: T,
  ...changes,
});
const flat = (): PositionRecord =>
  flatPosition({ position_id: 'p-1', strategy_id: null, instrument_id: 'BTC-USD' }, T);
const trade = (side: 'buy' | 'sell', quantity: string, price: string) => ({
  side,
  quantity,
  price,
  executed_at: T,
});

describe('the order lifecycle', () => {
  it('goes pending -> submitted -> accepted -> partially_filled -> filled', () => {
    let o = transition(order(), 'submitted', T);
    expect(o.submitted_at).toBe(T);
    o = transition(o, 'accepted', T);
    o = fill(o, '1', '100', T);
    expect(o).toMatchObject({
      status: 'partially_filled',
      filled_quantity: '1',
      remaining_quantity: '2',
      average_fill_price: '100',
    });
    o = fill(o, '2', '103', T);
    expect(o).toMatchObject({
      status: 'filled',
      filled_quantity: '3',
      remaining_quantity: '0',
      average_fill_price: '102',
      filled_at: T,
    });
  });

  it('refuses every transition the table does not allow, naming both ends', () => {
    const statuses = Object.keys(ORDER_TRANSITIONS) as OrderStatus[];
    for (const from of statuses) {
      for (const to of statuses) {
        const attempt = () => transition(order({ status: from }), to, T);
        if (ORDER_TRANSITIONS[from].includes(to)) expect(attempt).not.toThrow();
        else
          expect(attempt).toThrow(
            new DomainError('INVALID_TRANSITION', `order o-1 cannot go from ${from} to ${to}`),
          );
      }
    }
  });

  it('treats filled, cancelled, rejected and expired as final', () => {
    expect((Object.keys(ORDER_TRANSITIONS) as OrderStatus[]).filter(isFinal).sort()).toEqual([
      'cancelled',
      'expired',
      'filled',
      'rejected',
    ]);
  });

  it('refuses a cancel of a filled order, and fills beyond what remains', () => {
    expect(() => transition(order({ status: 'filled' }), 'cancelled', T)).toThrow(
      /cannot go from filled to cancelled/,
    );
    expect(() => fill(order({ status: 'accepted' }), '4', '100', T)).toThrow(
      /does not fit the 3 that remains/,
    );
    expect(() => fill(order({ status: 'pending' }), '1', '100', T)).toThrow(
      /only accepted orders fill/,
    );
  });

  it('fills any split of the quantity to exactly filled, with the weighted average price', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100_000 })),
          { minLength: 1, maxLength: 8 },
        ),
        (parts) => {
          const total = parts.reduce((sum, [quantity]) => sum + quantity, 0);
          let o = order({
            status: 'accepted',
            quantity: String(total),
            remaining_quantity: String(total),
          });
          let notional = new Dec(0);
          for (const [quantity, cents] of parts) {
            const price = new Dec(cents).div(100).toFixed();
            o = fill(o, String(quantity), price, T);
            notional = notional.plus(new Dec(quantity).times(price));
          }
          expect(o.status).toBe('filled');
          expect(o.remaining_quantity).toBe('0');
          // The average is stored with 8 places, so each fill may round it by half a unit there.
          const tolerance = new Dec('0.00000001').times(parts.length);
          expect(
            new Dec(o.average_fill_price ?? 0).minus(notional.div(total)).abs().lte(tolerance),
          ).toBe(true);
        },
      ),
    );
  });
});

describe('positions and PnL', () => {
  it('buying then selling the same quantity leaves nothing and realises the price difference, to the cent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        (quantity, buyCents, sellCents) => {
          const buy = new Dec(buyCents).div(100).toFixed();
          const sell = new Dec(sellCents).div(100).toFixed();
          const opened = applyExecution(flat(), trade('buy', String(quantity), buy)).position;
          const { position, realized } = applyExecution(
            opened,
            trade('sell', String(quantity), sell),
          );
          const expected = new Dec(sell).minus(buy).times(quantity).toFixed();
          expect(position.quantity).toBe('0');
          expect(realized).toBe(new Dec(expected).toFixed());
          expect(position.realized_pnl).toBe(new Dec(expected).toFixed());
          expect(position.closed_at).toBe(T);
        },
      ),
    );
  });

  it('averages the entry when adding, and opens the rest at the trade price when flipping', () => {
    let { position } = applyExecution(flat(), trade('buy', '2', '100'));
    ({ position } = applyExecution(position, trade('buy', '2', '110')));
    expect(position).toMatchObject({ quantity: '4', average_entry_price: '105' });
    const flipped = applyExecution(position, trade('sell', '6', '120'));
    expect(flipped.realized).toBe('60');
    expect(flipped.position).toMatchObject({
      quantity: '-2',
      average_entry_price: '120',
      realized_pnl: '60',
    });
    expect(markToMarket(flipped.position, '115')).toMatchObject({
      unrealized_pnl: '10',
      market_value: '-230',
      exposure: '230',
      total_pnl: '70',
    });
  });

  it('keeps total PnL equal to the cash made plus what is held, for any sequence of trades', () => {
    const step = fc.tuple(
      fc.constantFrom('buy' as const, 'sell' as const),
      fc.integer({ min: 1, max: 50 }),
      fc.integer({ min: 1, max: 100_000 }),
    );
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 100_000 }),
        (steps, finalCents) => {
          let position = flat();
          let cash = new Dec(0);
          for (const [side, quantity, cents] of steps) {
            const price = new Dec(cents).div(100).toFixed();
            position = applyExecution(position, trade(side, String(quantity), price)).position;
            cash = cash.plus(new Dec(quantity).times(price).times(side === 'buy' ? -1 : 1));
          }
          const last = new Dec(finalCents).div(100).toFixed();
          const marked = markToMarket(position, last);
          const expected = cash.plus(new Dec(position.quantity).times(last));
          // Stored with 8 places: the average entry may round each trade, once per unit held.
          const held = steps.reduce((sum, [, quantity]) => sum + quantity, 0);
          const tolerance = new Dec('0.00000001')
            .times(held)
            .times(steps.length)
            .plus('0.00000001');
          expect(new Dec(marked.total_pnl).minus(expected).abs().lte(tolerance)).toBe(true);
        },
      ),
    );
  });
});
