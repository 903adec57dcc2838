import pg from 'pg';
import type { z } from 'zod';
import { StoreUnavailableError, ValidationError } from '../errors.ts';
import { postgresConnection, type StoreTls } from '../store-tls.ts';
import { migrate } from './migrations.ts';
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

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;
const TIMESTAMPTZ = 1184;
const NUMERIC = 1700;
const DEFAULT_PAGE: Page = { limit: 100, offset: 0 };

/** Options for an instance's store: its URL (the instance's own login) and schema. */
export interface PostgresStoreOptions {
  url: string;
  /** TLS as the URL says by default. */
  tls?: StoreTls;
  schema: string;
  maxConnections?: number;
  applicationName?: string;
}

/** How long a health check waits for PostgreSQL (the pool drops the connection it waited on). */
export const PING_TIMEOUT_MS = 3000;

/**
 * The engine's repositories on PostgreSQL, bound to the instance's schema:
 * every connection of the pool has `search_path` set to it and nothing else.
 */
export class PostgresStore implements TradingStore {
  readonly kind = 'postgres';
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly strategies: Repository<z.infer<typeof strategyRecord>>;
  readonly orders: Repository<z.infer<typeof orderRecord>>;
  readonly trades: Repository<z.infer<typeof tradeRecord>>;
  readonly positions: PositionRepository;

  constructor(options: PostgresStoreOptions, db?: Queryable, pool?: pg.Pool) {
    this.schema = options.schema;
    this.pool =
      pool ??
      new pg.Pool({
        ...postgresConnection(options.url, options.tls),
        max: options.maxConnections ?? 10,
        connectionTimeoutMillis: 3000,
        options: `-c search_path=${pg.escapeIdentifier(options.schema)}`,
        application_name: options.applicationName ?? 'trading-engine',
        types: { getTypeParser: typeParser } as pg.CustomTypesConfig,
      });
    if (!pool) this.pool.on('error', () => {}); // a dropped idle connection surfaces on the next query
    const target = db ?? this.pool;
    this.strategies = new TableRepository(target, 'strategies', strategyRecord);
    this.orders = new TableRepository(target, 'orders', orderRecord);
    this.trades = new TableRepository(target, 'trades', tradeRecord);
    this.positions = new PositionTable(target, 'positions', positionRecord);
  }

  /** Creates or updates the instance's tables; returns the versions applied. */
  migrate(): Promise<number[]> {
    return guard(() => migrate(this.pool, this.schema));
  }

  /** Answers within PING_TIMEOUT_MS or fails: a server that stopped answering is down, not waited on. */
  async ping(): Promise<void> {
    // pg reads query_timeout per query too; its types know it only per client.
    const query = { text: 'SELECT * FROM health_check()', query_timeout: PING_TIMEOUT_MS };
    await guard(() => this.pool.query(query as pg.QueryConfig));
  }

  async transaction<R>(work: (store: TradingStore) => Promise<R>): Promise<R> {
    const client = await guard(() => this.pool.connect());
    // A connection that stopped answering is closed, not given back to the pool.
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(
        new PostgresStore({ url: '', schema: this.schema }, client, this.pool),
      );
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = lostConnection(error);
      if (!broken)
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * A table's repository. The statements a record's writes and reads use are
 * built once and sent as named statements, so each pool connection has them
 * parsed and planned once rather than on every order; they name their columns
 * (no `*`), so a migration adding a column cannot change what a prepared
 * statement returns.
 */
class TableRepository<S extends z.ZodObject, T extends Record<string, unknown> = z.infer<S>>
  implements Repository<T>
{
  protected readonly db: Queryable;
  protected readonly table: keyof typeof TABLES;
  protected readonly schema: S;
  protected readonly id: string;
  /** The column list every read and RETURNING names. */
  protected readonly selected: string;
  private readonly order: string;
  private readonly columns: string[];
  private readonly saveStatement: string;
  private readonly writeStatement: string;
  private readonly getStatement: string;
  /** INSERT of a whole record, without a conflict clause: each caller says what a conflict means. */
  protected readonly insertStatement: string;

  constructor(db: Queryable, table: keyof typeof TABLES, schema: S) {
    this.db = db;
    this.table = table;
    this.schema = schema;
    this.id = TABLES[table].id;
    this.order = TABLES[table].order;
    this.columns = Object.keys(schema.shape);
    const statements = tableStatements(table, this.columns, this.id);
    this.selected = statements.selected;
    this.saveStatement = statements.save;
    this.writeStatement = statements.write;
    this.getStatement = statements.get;
    this.insertStatement = statements.insert;
  }

  protected values(record: T): unknown[] {
    return this.columns.map((column) => record[column]);
  }

  async save(record: T): Promise<T> {
    const { rows } = await this.named(
      `tse_${this.table}_save`,
      this.saveStatement,
      this.values(record),
    );
    return this.row(rows[0]);
  }

  async write(record: T): Promise<void> {
    await this.named(`tse_${this.table}_write`, this.writeStatement, this.values(record));
  }

  async get(id: string): Promise<T | undefined> {
    const { rows } = await this.named(`tse_${this.table}_get`, this.getStatement, [id]);
    return rows[0] ? this.row(rows[0]) : undefined;
  }

  async list(filter: Filter<T> = {}, page: Page = DEFAULT_PAGE): Promise<T[]> {
    const entries = Object.entries(filter).filter(([, value]) => value !== undefined);
    for (const [field] of entries) {
      if (!this.columns.includes(field))
        throw new ValidationError('filter', field, `must be one of ${this.columns.join(', ')}`);
    }
    const where = entries.map(
      ([field], i) => `${pg.escapeIdentifier(field)} IS NOT DISTINCT FROM $${i + 1}`,
    );
    const values = entries.map(([, value]) => value);
    const { rows } = await this.run(
      `SELECT ${this.selected} FROM ${this.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY ${pg.escapeIdentifier(this.order)} DESC, ${pg.escapeIdentifier(this.id)}
       LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
      [...values, page.limit, page.offset],
    );
    return rows.map((row) => this.row(row));
  }

  protected async run(sql: string, values: unknown[]): Promise<pg.QueryResult> {
    return guard(() => this.db.query(sql, values));
  }

  /** A statement of fixed text under a name: prepared on a connection's first use, reused after. */
  protected async named(name: string, text: string, values: unknown[]): Promise<pg.QueryResult> {
    return guard(() => this.db.query({ name, text, values }));
  }

  protected row(row: unknown): T {
    return canonicalRecord(this.schema, row as T);
  }
}

/** The fixed statements of a table, built once per table rather than per store or per call. */
const statementCache = new Map<
  string,
  { selected: string; save: string; write: string; get: string; insert: string }
>();
function tableStatements(table: string, columns: string[], id: string) {
  const cached = statementCache.get(table);
  if (cached) return cached;
  const names = columns.map((column) => pg.escapeIdentifier(column));
  const selected = names.join(', ');
  const key = pg.escapeIdentifier(id);
  const updates = names.filter((name) => name !== key).map((name) => `${name} = EXCLUDED.${name}`);
  const insert = `INSERT INTO ${table} (${selected}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`;
  const upsert = `${insert}
       ON CONFLICT (${key}) DO UPDATE SET ${updates.join(', ')}`;
  const statements = {
    selected,
    insert,
    save: `${upsert} RETURNING ${selected}`,
    write: upsert,
    get: `SELECT ${selected} FROM ${table} WHERE ${key} = $1`,
  };
  statementCache.set(table, statements);
  return statements;
}

class PositionTable extends TableRepository<typeof positionRecord> implements PositionRepository {
  async findOpen(
    strategyId: string | null,
    instrumentId: string,
  ): Promise<PositionRecord | undefined> {
    const { rows } = await this.named(
      'tse_positions_find_open',
      `SELECT ${this.selected} FROM positions WHERE strategy_id IS NOT DISTINCT FROM $1 AND instrument_id = $2 AND closed_at IS NULL`,
      [strategyId, instrumentId],
    );
    return rows[0] ? this.row(rows[0]) : undefined;
  }

  async lockOpen(
    strategyId: string | null,
    instrumentId: string,
    flat: () => PositionRecord,
  ): Promise<PositionRecord> {
    const lock = () =>
      this.named(
        'tse_positions_lock_open',
        `SELECT ${this.selected} FROM positions WHERE strategy_id IS NOT DISTINCT FROM $1 AND instrument_id = $2 AND closed_at IS NULL FOR UPDATE`,
        [strategyId, instrumentId],
      );
    let { rows } = await lock();
    if (!rows[0]) {
      // Two first fills at once: one inserts, the other waits on the open-position index and finds it.
      const record = flat();
      await this.named(
        'tse_positions_open',
        `${this.insertStatement} ON CONFLICT ((coalesce(strategy_id, '')), instrument_id) WHERE closed_at IS NULL DO NOTHING`,
        this.values(record),
      );
      ({ rows } = await lock());
    }
    return this.row(rows[0]);
  }
}

function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === TIMESTAMPTZ) return (value) => new Date(value).toISOString();
  if (oid === NUMERIC) return (value) => value;
  return pg.types.getTypeParser(oid, format as 'text');
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01',
  '57P03',
  '08006',
  '08001',
  '08003',
]);

/** The driver's own: the connection broke, could not be made, or stopped answering. */
function lostConnection(error: unknown): boolean {
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout/i.test(
    (error as Error).message ?? '',
  );
}

/** Turns a lost or refused connection into StoreUnavailableError; other errors pass through. */
async function guard<R>(work: () => Promise<R>): Promise<R> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if ((code !== undefined && CONNECTION_CODES.has(code)) || lostConnection(error)) {
      throw new StoreUnavailableError('postgres', error);
    }
    throw error;
  }
}
