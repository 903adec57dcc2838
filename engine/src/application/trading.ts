import { randomUUID } from 'node:crypto';
import type { NamespacedCache, OrderRecord, StrategyRecord, TradingStore } from '@tse/adapter';
import { Dec, money } from '../domain/decimal.ts';
import { fill, isFinal, transition } from '../domain/order.ts';
import { applyExecution, flatPosition, markToMarket } from '../domain/position.ts';
import { type RiskLimits, riskRejection } from '../domain/risk.ts';
import {
  command,
  marketMakingQuotes,
  recordFill,
  type StrategyCommand,
} from '../domain/strategy.ts';
import { decide } from '../domain/venue.ts';

/** An order as a client places it (already validated at the edge). */
export interface NewOrder {
  instrument_id: string;
  side: OrderRecord['side'];
  order_type: OrderRecord['order_type'];
  time_in_force: OrderRecord['time_in_force'];
  quantity: string;
  price?: string | undefined;
  stop_price?: string | undefined;
  strategy_id?: string | undefined;
}

/** A strategy as a client creates it (validated at the edge). */
export interface NewStrategy {
  name: string;
  strategy_type: StrategyRecord['strategy_type'];
  instruments: string[];
  parameters: Record<string, unknown>;
  max_position_size?: string | undefined;
  max_daily_loss?: string | undefined;
  max_leverage?: string | undefined;
}

/** An order, or a position, that the trading service could not find. */
export class NotFoundError extends Error {}

/** Something every order event subscriber can read: the event and the order. */
export type OrderEvent = {
  type: 'placed' | 'filled' | 'cancelled' | 'rejected' | 'expired';
  order: OrderRecord;
};

export interface TradingDependencies {
  store: () => TradingStore;
  cache: NamespacedCache;
  limits: RiskLimits;
  now?: () => Date;
  /** Told of every order event (logs, gRPC streams); Redis gets them on the `orders` channel. */
  onEvent?: (event: OrderEvent) => void;
  onPublishError?: (error: unknown) => void;
}

/**
 * Places, fills and cancels orders against the paper venue, keeping orders,
 * trades and positions in the instance's store, one transaction per fill.
 */
export class TradingService {
  private readonly deps: TradingDependencies;
  private readonly prices = new Map<string, string>();

  constructor(deps: TradingDependencies) {
    this.deps = deps;
  }

  /** The last market price of an instrument, if one has arrived. */
  price(instrument: string): string | undefined {
    return this.prices.get(instrument);
  }

  /** Checks risk, submits to the paper venue, and fills at once where the market allows. */
  async placeOrder(input: NewOrder): Promise<OrderRecord> {
    const at = this.timestamp();
    let order: OrderRecord = {
      order_id: randomUUID(),
      strategy_id: input.strategy_id ?? null,
      instrument_id: input.instrument_id,
      side: input.side,
      order_type: input.order_type,
      status: 'pending',
      time_in_force: input.time_in_force,
      quantity: money(input.quantity),
      filled_quantity: '0',
      remaining_quantity: money(input.quantity),
      price: input.price === undefined ? null : money(input.price),
      stop_price: input.stop_price === undefined ? null : money(input.stop_price),
      average_fill_price: null,
      exchange_order_id: null,
      execution_venue: 'paper',
      commission: '0',
      realized_pnl: '0',
      error_message: null,
      created_at: at,
      submitted_at: null,
      filled_at: null,
      cancelled_at: null,
      updated_at: at,
    };
    const store = this.deps.store();
    const position = await store.positions.findOpen(order.strategy_id, order.instrument_id);
    const strategy = order.strategy_id ? await store.strategies.get(order.strategy_id) : undefined;
    if (order.strategy_id && !strategy)
      throw new NotFoundError(`strategy ${JSON.stringify(order.strategy_id)} does not exist`);
    const held = {
      side: order.side,
      quantity: order.quantity,
      position: position?.quantity ?? '0',
    };
    // The instance's limits, then the strategy's own.
    const rejection =
      riskRejection({ ...held, dailyPnl: position?.total_pnl ?? '0' }, this.deps.limits) ??
      (strategy &&
        riskRejection(
          { ...held, dailyPnl: strategy.daily_pnl },
          { maxPositionSize: strategy.max_position_size, maxDailyLoss: strategy.max_daily_loss },
        ));
    if (rejection) {
      order = transition(order, 'rejected', at, rejection);
      await store.orders.write(order);
      await this.publish({ type: 'rejected', order });
      return order;
    }
    order = transition(transition(order, 'submitted', at), 'accepted', at);
    order.exchange_order_id = `paper-${order.order_id.slice(0, 8)}`;
    await store.orders.write(order);
    await this.publish({ type: 'placed', order });
    return this.work(order);
  }

  /** Cancels a working order; a final one (filled, cancelled, ...) cannot be. */
  async cancelOrder(id: string): Promise<OrderRecord> {
    const store = this.deps.store();
    const order = await store.orders.get(id);
    if (!order) throw new NotFoundError(`order ${JSON.stringify(id)} does not exist`);
    const cancelled = transition(order, 'cancelled', this.timestamp());
    await store.orders.write(cancelled);
    await this.publish({ type: 'cancelled', order: cancelled });
    return cancelled;
  }

  /** A new market price: resting orders of the instrument fill or expire, its positions are marked. */
  async marketData(instrument: string, price: string): Promise<{ filled: OrderRecord[] }> {
    this.prices.set(instrument, money(price));
    const store = this.deps.store();
    const filled: OrderRecord[] = [];
    for (const status of ['accepted', 'partially_filled'] as const) {
      for (const order of await store.orders.list(
        { instrument_id: instrument, status },
        { limit: 1000, offset: 0 },
      )) {
        const worked = await this.work(order);
        if (worked.status === 'filled') filled.push(worked);
      }
    }
    for (const position of await store.positions.list(
      { instrument_id: instrument, closed_at: null },
      { limit: 1000, offset: 0 },
    )) {
      await store.positions.write(markToMarket(position, money(price)));
    }
    await this.requote(instrument, money(price));
    return { filled };
  }

  /** Creates a strategy, inactive until started. */
  async createStrategy(input: NewStrategy): Promise<StrategyRecord> {
    const at = this.timestamp();
    return this.deps.store().strategies.save({
      strategy_id: randomUUID(),
      name: input.name,
      strategy_type: input.strategy_type,
      status: 'inactive',
      parameters: input.parameters,
      instruments: input.instruments,
      max_position_size: input.max_position_size ?? null,
      max_daily_loss: input.max_daily_loss ?? null,
      max_leverage: input.max_leverage ?? null,
      total_pnl: '0',
      daily_pnl: '0',
      total_trades: 0,
      started_at: null,
      stopped_at: null,
      created_at: at,
      updated_at: at,
    });
  }

  /** Starts, pauses or stops a strategy; pausing or stopping withdraws its working orders. */
  async strategyCommand(id: string, name: StrategyCommand): Promise<StrategyRecord> {
    const store = this.deps.store();
    const strategy = await store.strategies.get(id);
    if (!strategy) throw new NotFoundError(`strategy ${JSON.stringify(id)} does not exist`);
    const next = await store.strategies.save(command(strategy, name, this.timestamp()));
    if (name !== 'start') await this.withdraw(id);
    else {
      for (const instrument of next.instruments) {
        const price = this.prices.get(instrument);
        if (price) await this.requote(instrument, price);
      }
    }
    return next;
  }

  /** Market makers on this instrument replace their quotes around the new price. */
  private async requote(instrument: string, price: string): Promise<void> {
    const store = this.deps.store();
    const makers = await store.strategies.list(
      { status: 'active', strategy_type: 'market_making' },
      { limit: 1000, offset: 0 },
    );
    for (const strategy of makers.filter((candidate) =>
      candidate.instruments.includes(instrument),
    )) {
      await this.withdraw(strategy.strategy_id, instrument);
      const position = await store.positions.findOpen(strategy.strategy_id, instrument);
      for (const quote of marketMakingQuotes(strategy, price, position?.quantity ?? '0')) {
        await this.placeOrder({
          instrument_id: instrument,
          order_type: 'limit',
          time_in_force: 'gtc',
          strategy_id: strategy.strategy_id,
          ...quote,
        });
      }
    }
  }

  /** Cancels a strategy's working orders (on one instrument, or all). */
  private async withdraw(strategyId: string, instrument?: string): Promise<void> {
    const store = this.deps.store();
    for (const status of ['accepted', 'partially_filled'] as const) {
      const filter = {
        strategy_id: strategyId,
        status,
        ...(instrument && { instrument_id: instrument }),
      };
      for (const order of await store.orders.list(filter, { limit: 1000, offset: 0 })) {
        const cancelled = transition(order, 'cancelled', this.timestamp());
        await store.orders.write(cancelled);
        await this.publish({ type: 'cancelled', order: cancelled });
      }
    }
  }

  private async work(order: OrderRecord): Promise<OrderRecord> {
    if (isFinal(order.status)) return order;
    const decision = decide(
      order,
      this.prices.get(order.instrument_id),
      this.deps.now?.() ?? new Date(),
    );
    if (decision.action === 'rest') return order;
    if (decision.action === 'expire') {
      const expired = transition(order, 'expired', this.timestamp(), decision.reason);
      await this.deps.store().orders.write(expired);
      await this.publish({ type: 'expired', order: expired });
      return expired;
    }
    const filled = await this.execute(order, decision.price);
    await this.publish({ type: 'filled', order: filled });
    return filled;
  }

  /** One fill: the order, its trade and the position move together, in one transaction. */
  private execute(order: OrderRecord, price: string): Promise<OrderRecord> {
    const at = this.timestamp();
    return this.deps.store().transaction(async (store) => {
      const quantity = order.remaining_quantity;
      const open =
        (await store.positions.findOpen(order.strategy_id, order.instrument_id)) ??
        flatPosition(
          {
            position_id: randomUUID(),
            strategy_id: order.strategy_id,
            instrument_id: order.instrument_id,
          },
          at,
        );
      const { position, realized } = applyExecution(open, {
        side: order.side,
        quantity,
        price,
        executed_at: at,
      });
      const gross = money(new Dec(quantity).times(price));
      const filled = {
        ...fill(order, quantity, price, at),
        realized_pnl: money(new Dec(order.realized_pnl).plus(realized)),
      };
      // What is answered is built here: nothing is read back.
      await store.orders.write(filled);
      await store.trades.write({
        trade_id: randomUUID(),
        order_id: order.order_id,
        strategy_id: order.strategy_id,
        instrument_id: order.instrument_id,
        side: order.side,
        quantity,
        price,
        gross_value: gross,
        commission: '0',
        net_value: gross,
        exchange_trade_id: null,
        execution_venue: 'paper',
        liquidity_flag: order.order_type === 'limit' ? 'maker' : 'taker',
        realized_pnl: realized,
        executed_at: at,
        created_at: at,
        notes: null,
      });
      await store.positions.write(position);
      if (order.strategy_id) {
        const strategy = await store.strategies.get(order.strategy_id);
        if (strategy) await store.strategies.write(recordFill(strategy, realized, at));
      }
      return filled;
    });
  }

  private async publish(event: OrderEvent): Promise<void> {
    this.deps.onEvent?.(event);
    try {
      await this.deps.cache.publish('orders', JSON.stringify(event));
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
  }

  private timestamp(): string {
    return (this.deps.now?.() ?? new Date()).toISOString();
  }
}
