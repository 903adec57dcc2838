import type { OrderRecord, Page, PositionRecord, StrategyRecord, TradeRecord } from './records.ts';

/** Field filters on a listing: equality on the named fields. */
export type Filter<T> = Partial<Pick<T, Extract<keyof T, string>>>;

/** Stores one kind of record by its id; lists newest first. */
export interface Repository<T> {
  /** Inserts or replaces the record; answers it as stored. */
  save(record: T): Promise<T>;
  /** Saves as `save` does without reading the record back: for callers that have no use for it. */
  write(record: T): Promise<void>;
  get(id: string): Promise<T | undefined>;
  list(filter?: Filter<T>, page?: Page): Promise<T[]>;
}

/** Positions are also found by their (strategy, instrument) pair, of which one is open at a time. */
export interface PositionRepository extends Repository<PositionRecord> {
  findOpen(strategyId: string | null, instrumentId: string): Promise<PositionRecord | undefined>;
}

/** Everything the engine stores, behind one interface with two implementations. */
export interface TradingStore {
  readonly kind: 'postgres' | 'memory';
  readonly strategies: Repository<StrategyRecord>;
  readonly orders: Repository<OrderRecord>;
  readonly trades: Repository<TradeRecord>;
  readonly positions: PositionRepository;
  /** Resolves when the store answers; rejects with the reason when it does not. */
  ping(): Promise<void>;
  /** Runs `work` in one transaction (a plain call in memory). */
  transaction<R>(work: (store: TradingStore) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** How each table is keyed and ordered. */
export const TABLES = {
  strategies: { id: 'strategy_id', order: 'created_at' },
  orders: { id: 'order_id', order: 'created_at' },
  trades: { id: 'trade_id', order: 'executed_at' },
  positions: { id: 'position_id', order: 'created_at' },
} as const;
