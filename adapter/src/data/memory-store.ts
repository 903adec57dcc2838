import type { z } from 'zod';
import { ValidationError } from '../errors.ts';
import {
  canonicalRecord,
  orderRecord,
  type Page,
  type PositionRecord,
  positionRecord,
  strategyRecord,
  tradeRecord,
} from './records.ts';
import {
  type Filter,
  type PositionRepository,
  type Repository,
  TABLES,
  type TradingStore,
} from './repositories.ts';

/**
 * The engine's repositories in memory, for running without stores
 * (development, demos). Same interface and behaviour as PostgresStore; data
 * lives only as long as the process.
 */
export class MemoryStore implements TradingStore {
  readonly kind = 'memory';
  readonly strategies = new MemoryRepository('strategies', strategyRecord);
  readonly orders = new MemoryRepository('orders', orderRecord);
  readonly trades = new MemoryRepository('trades', tradeRecord);
  readonly positions: PositionRepository = new MemoryPositions('positions', positionRecord);

  async ping(): Promise<void> {}

  /** Runs `work` directly: memory writes are not rolled back. */
  transaction<R>(work: (store: TradingStore) => Promise<R>): Promise<R> {
    return work(this);
  }

  async close(): Promise<void> {}
}

class MemoryRepository<S extends z.ZodObject, T extends Record<string, unknown> = z.infer<S>>
  implements Repository<T>
{
  protected readonly rows = new Map<string, T>();
  private readonly id: string;
  private readonly order: string;
  private readonly schema: S;

  constructor(table: keyof typeof TABLES, schema: S) {
    this.schema = schema;
    this.id = TABLES[table].id;
    this.order = TABLES[table].order;
  }

  async save(record: T): Promise<T> {
    const stored = structuredClone(canonicalRecord(this.schema, record));
    this.rows.set(String(stored[this.id]), stored);
    return structuredClone(stored);
  }

  async write(record: T): Promise<void> {
    const stored = structuredClone(canonicalRecord(this.schema, record));
    this.rows.set(String(stored[this.id]), stored);
  }

  async get(id: string): Promise<T | undefined> {
    const row = this.rows.get(id);
    return row && structuredClone(row);
  }

  async list(filter: Filter<T> = {}, page: Page = { limit: 100, offset: 0 }): Promise<T[]> {
    const entries = Object.entries(filter).filter(([, value]) => value !== undefined);
    for (const [field] of entries) {
      if (!(field in this.schema.shape))
        throw new ValidationError(
          'filter',
          field,
          `must be one of ${Object.keys(this.schema.shape).join(', ')}`,
        );
    }
    return [...this.rows.values()]
      .filter((row) => entries.every(([field, value]) => row[field] === value))
      .sort((a, b) => compare(b[this.order], a[this.order]) || compare(a[this.id], b[this.id]))
      .slice(page.offset, page.offset + page.limit)
      .map((row) => structuredClone(row));
  }
}

class MemoryPositions
  extends MemoryRepository<typeof positionRecord>
  implements PositionRepository
{
  async findOpen(
    strategyId: string | null,
    instrumentId: string,
  ): Promise<PositionRecord | undefined> {
    const open = [...this.rows.values()].find(
      (row) =>
        row.strategy_id === strategyId &&
        row.instrument_id === instrumentId &&
        row.closed_at === null,
    );
    return open && structuredClone(open);
  }
}

function compare(a: unknown, b: unknown): number {
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
