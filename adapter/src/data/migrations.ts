import pg from 'pg';

/** One versioned, forward-only change to an instance's schema. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The schema history of the engine's tables; every statement is safe to re-run. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'trading tables',
    sql: `
      CREATE TABLE IF NOT EXISTS strategies (
        strategy_id text PRIMARY KEY,
        name text NOT NULL,
        strategy_type text NOT NULL CHECK (strategy_type IN ('market_making','trend_following','mean_reversion','arbitrage','momentum','custom')),
        status text NOT NULL CHECK (status IN ('inactive','active','paused','stopped','error')),
        parameters jsonb NOT NULL DEFAULT '{}',
        instruments text[] NOT NULL DEFAULT '{}',
        max_position_size numeric(20,8),
        max_daily_loss numeric(20,8),
        max_leverage numeric(20,8),
        total_pnl numeric(20,8) NOT NULL DEFAULT 0,
        daily_pnl numeric(20,8) NOT NULL DEFAULT 0,
        total_trades integer NOT NULL DEFAULT 0,
        started_at timestamptz,
        stopped_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE IF NOT EXISTS orders (
        order_id text PRIMARY KEY,
        strategy_id text REFERENCES strategies (strategy_id),
        instrument_id text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy','sell')),
        order_type text NOT NULL CHECK (order_type IN ('market','limit','stop','stop_limit')),
        status text NOT NULL CHECK (status IN ('pending','submitted','accepted','partially_filled','filled','cancelled','rejected','expired')),
        time_in_force text NOT NULL DEFAULT 'gtc' CHECK (time_in_force IN ('gtc','ioc','fok','day')),
        quantity numeric(20,8) NOT NULL CHECK (quantity > 0),
        filled_quantity numeric(20,8) NOT NULL DEFAULT 0,
        remaining_quantity numeric(20,8) NOT NULL,
        price numeric(20,8),
        stop_price numeric(20,8),
        average_fill_price numeric(20,8),
        exchange_order_id text,
        execution_venue text,
        commission numeric(20,8) NOT NULL DEFAULT 0,
        realized_pnl numeric(20,8) NOT NULL DEFAULT 0,
        error_message text,
        created_at timestamptz NOT NULL DEFAULT now(),
        submitted_at timestamptz,
        filled_at timestamptz,
        cancelled_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS orders_strategy_idx ON orders (strategy_id, created_at DESC);
      CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status, created_at DESC);
      CREATE INDEX IF NOT EXISTS orders_instrument_idx ON orders (instrument_id, created_at DESC);
      CREATE TABLE IF NOT EXISTS trades (
        trade_id text PRIMARY KEY,
        order_id text NOT NULL REFERENCES orders (order_id),
        strategy_id text REFERENCES strategies (strategy_id),
        instrument_id text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy','sell')),
        quantity numeric(20,8) NOT NULL CHECK (quantity > 0),
        price numeric(20,8) NOT NULL,
        gross_value numeric(20,8) NOT NULL,
        commission numeric(20,8) NOT NULL DEFAULT 0,
        net_value numeric(20,8) NOT NULL,
        exchange_trade_id text,
        execution_venue text,
        liquidity_flag text,
        realized_pnl numeric(20,8) NOT NULL DEFAULT 0,
        executed_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        notes text
      );
      CREATE INDEX IF NOT EXISTS trades_order_idx ON trades (order_id);
      CREATE INDEX IF NOT EXISTS trades_strategy_idx ON trades (strategy_id, executed_at DESC);
      CREATE TABLE IF NOT EXISTS positions (
        position_id text PRIMARY KEY,
        strategy_id text REFERENCES strategies (strategy_id),
        instrument_id text NOT NULL,
        quantity numeric(20,8) NOT NULL,
        average_entry_price numeric(20,8) NOT NULL DEFAULT 0,
        current_price numeric(20,8),
        market_value numeric(20,8) NOT NULL DEFAULT 0,
        unrealized_pnl numeric(20,8) NOT NULL DEFAULT 0,
        realized_pnl numeric(20,8) NOT NULL DEFAULT 0,
        total_pnl numeric(20,8) NOT NULL DEFAULT 0,
        cost_basis numeric(20,8) NOT NULL DEFAULT 0,
        exposure numeric(20,8) NOT NULL DEFAULT 0,
        opened_at timestamptz NOT NULL,
        last_updated timestamptz NOT NULL,
        closed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        notes text
      );
      CREATE UNIQUE INDEX IF NOT EXISTS positions_open_idx
        ON positions (coalesce(strategy_id, ''), instrument_id) WHERE closed_at IS NULL;
    `,
  },
  {
    version: 2,
    name: 'updated_at trigger and health function',
    sql: `
      CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.updated_at := now();
        RETURN NEW;
      END $$;
      CREATE OR REPLACE TRIGGER strategies_touch BEFORE UPDATE ON strategies FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
      CREATE OR REPLACE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
      CREATE OR REPLACE TRIGGER positions_touch BEFORE UPDATE ON positions FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
      CREATE OR REPLACE FUNCTION health_check() RETURNS TABLE (schema_name text, schema_version integer, checked_at timestamptz)
        LANGUAGE sql STABLE AS $$
          SELECT current_schema()::text, (SELECT max(version) FROM schema_migrations), now()
        $$;
    `,
  },
];

/**
 * Applies the migrations the schema lacks, each in its own transaction, under
 * an advisory lock so that two engines starting at once do not race.
 * Returns the versions applied (none when the schema is current).
 */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  migrations = MIGRATIONS,
): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query(`SET search_path = ${pg.escapeIdentifier(schema)}`);
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`migrate:${schema}`]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number }>(
      'SELECT version FROM schema_migrations',
    );
    const done = new Set(rows.map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(
          `migration ${migration.version} (${migration.name}) failed in schema ${schema}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      applied.push(migration.version);
    }
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtext($1))', [`migrate:${schema}`])
      .catch(() => {});
    client.release();
  }
  return applied;
}
