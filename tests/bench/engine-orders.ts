import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { deriveIdentity, PostgresProvisioner, PostgresStore, postgresTenant } from '@tse/adapter';
import { loadConfig, loadProtos, startEngine } from '@tse/engine';
import pg from 'pg';

import { adminQuery, withCredentials, withDatabase } from '../support/fixtures.ts';
import { providePostgres } from '../support/stores.ts';
import { loadInChild } from './load.ts';
import { percentile, printTable, round } from './report.ts';

/** The engine's pool (PostgresStore's default), given to the plain script too. */
const POOL_SIZE = 10;

/**
 * Orders per second and latency through HTTP and gRPC, each order a market
 * order that fills at once: the order, its trade and the position are written
 * to the instance's schema in one transaction. Against a plain `pg` script
 * sending the same statements for the same rows, with the same pool size and
 * concurrency, in rounds alternated with the engine's.
 */
export async function engineOrdersBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const postgres = await providePostgres();
  try {
    await adminQuery(postgres.url, 'create database bench_orders');
    const url = withDatabase(postgres.url, 'bench_orders');
    const identity = deriveIdentity({ instanceName: 'trading-system-engine-Bench' });
    // The plain script writes to a schema of its own, made the same way.
    const plainIdentity = deriveIdentity({ instanceName: 'trading-system-engine-Plain' });
    const provisioner = new PostgresProvisioner(url);
    for (const tenant of [identity, plainIdentity])
      await provisioner.ensure(
        postgresTenant(tenant, { password: 'bench', database: 'bench_orders' }),
      );
    await provisioner.close();
    const plainUrl = withCredentials(url, plainIdentity.postgresSchema, 'bench');
    const tables = new PostgresStore({ url: plainUrl, schema: plainIdentity.postgresSchema });
    await tables.migrate();
    await tables.close();
    const plain = () =>
      plainOrders({ url: plainUrl, schema: plainIdentity.postgresSchema, connections, seconds });
    const token = randomBytes(32).toString('hex');
    const run = (auth: boolean) =>
      measureOrders({
        env: {
          SERVICE_INSTANCE_NAME: identity.instanceName,
          POSTGRES_URL: withCredentials(url, identity.postgresSchema, 'bench'),
          // One client this fast is no abuse.
          RATE_LIMIT_PER_SECOND: '0',
          // Without a token the engine runs open (ENVIRONMENT development): what authentication costs.
          ...(auth && { API_TOKEN: token }),
        },
        token: auth ? token : undefined,
        connections,
        seconds,
      });
    // Alternated, so that a machine growing busier does not favour one side.
    const opens: Measured[] = [];
    const authenticateds: Measured[] = [];
    const plains: Side[] = [];
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 1) plains.push(await plain());
      opens.push(await run(false));
      authenticateds.push(await run(true));
      if (round % 2 === 0) plains.push(await plain());
    }
    const open = mean(opens);
    const authenticated = mean(authenticateds);
    const script = meanSide(plains);
    const stored = await adminQuery(
      url,
      `select count(*)::int as n from ${identity.postgresSchema}.orders`,
    );

    const row = (api: string, auth: string, m: Side) => ({
      api,
      auth,
      orders_per_s: m.rate,
      p99_ms: m.p99,
      errors: m.errors,
      cpu_us_per_order: m.cpu,
    });
    printTable(
      `market orders that fill, persisted, ${connections} concurrent clients, ${seconds}s each, mean of ${rounds} alternated rounds`,
      [
        row('HTTP POST /api/v1/orders', 'none', open.http),
        row('HTTP POST /api/v1/orders', 'bearer token', authenticated.http),
        row('gRPC PlaceOrder', 'none', open.grpc),
        row('gRPC PlaceOrder', 'bearer token', authenticated.grpc),
        row('plain pg script (baseline)', '-', script),
      ],
    );
    console.log(`orders stored in ${identity.postgresSchema}.orders: ${stored.rows[0]?.n}`);
    return {
      http_orders_per_second: authenticated.http.rate,
      http_p99_ms: authenticated.http.p99,
      grpc_orders_per_second: authenticated.grpc.rate,
      grpc_p99_ms: authenticated.grpc.p99,
      http_orders_per_second_without_auth: open.http.rate,
      grpc_orders_per_second_without_auth: open.grpc.rate,
      http_auth_ratio: round(authenticated.http.rate / open.http.rate),
      grpc_auth_ratio: round(authenticated.grpc.rate / open.grpc.rate),
      orders_stored: stored.rows[0]?.n ?? 0,
      baseline_orders_per_second: script.rate,
      baseline_p99_ms: script.p99,
      ratio: round(authenticated.http.rate / script.rate),
      http_cpu_us_per_order: authenticated.http.cpu,
      baseline_cpu_us_per_order: script.cpu,
    };
  } finally {
    await postgres.stop();
  }
}

interface Side {
  rate: number;
  p99: number;
  errors: number;
  /** CPU time of this process per order (gRPC: client included; HTTP: the load is elsewhere). */
  cpu: number;
}
interface Measured {
  http: Side;
  grpc: Side;
}

/** Starts an engine with `env`, drives orders through HTTP then gRPC, stops it. */
async function measureOrders(options: {
  env: Record<string, string>;
  token: string | undefined;
  connections: number;
  seconds: number;
}): Promise<Measured> {
  const { connections, seconds } = options;
  const engine = await startEngine(
    loadConfig({
      ...options.env,
      HTTP_PORT: '0',
      GRPC_PORT: '0',
      MANAGEMENT_PORT: '0',
      LOG_LEVEL: 'warn',
    }),
    { host: '127.0.0.1', logDestination: new Writable({ write: (_, __, done) => done() }) },
  );
  try {
    for (let i = 0; i < 100 && !engine.status.ready(); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await engine.trading.marketData('BTC-USD', '100');
    const authorization = options.token ? { authorization: `Bearer ${options.token}` } : {};
    // The HTTP load comes from a process of its own, as a client's would.
    const httpCpu = process.cpuUsage();
    const http = await loadInChild({
      url: `http://127.0.0.1:${engine.ports.http}/api/v1/orders`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authorization },
      body: JSON.stringify({ instrument_id: 'BTC-USD', side: 'buy', quantity: '1' }),
      connections,
      duration: seconds,
    });
    const httpCpuUsed = cpuMicros(process.cpuUsage(httpCpu));

    const protos = loadProtos(['tse/engine/v1/trading.proto']) as unknown as {
      tse: { engine: { v1: { Trading: grpc.ServiceClientConstructor } } };
    };
    const client = new protos.tse.engine.v1.Trading(
      `127.0.0.1:${engine.ports.grpc}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client &
      Record<
        string,
        (request: unknown, metadata: grpc.Metadata, callback: (error: Error | null) => void) => void
      >;
    const grpcCpu = process.cpuUsage();
    const metadata = new grpc.Metadata();
    if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
    const latencies: number[] = [];
    let errors = 0;
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (Date.now() < deadline) {
          const started = performance.now();
          await new Promise<void>((resolve) =>
            client.PlaceOrder?.(
              { instrument_id: 'BTC-USD', side: 'buy', order_type: 'market', quantity: '1' },
              metadata,
              (error) => {
                if (error) errors++;
                latencies.push(performance.now() - started);
                resolve();
              },
            ),
          );
        }
      }),
    );
    const grpcCpuUsed = cpuMicros(process.cpuUsage(grpcCpu));
    client.close();
    return {
      http: {
        rate: round(http.rps),
        p99: http.p99,
        errors: http.errors,
        cpu: round(httpCpuUsed / Math.max(1, http.rps * seconds)),
      },
      grpc: {
        rate: round(latencies.length / seconds),
        p99: round(percentile(latencies, 99)),
        errors,
        cpu: round(grpcCpuUsed / Math.max(1, latencies.length)),
      },
    };
  } finally {
    await engine.stop();
  }
}

/** The mean of several measurements, side by side. */
function mean(runs: Measured[]): Measured {
  return { http: meanSide(runs.map((m) => m.http)), grpc: meanSide(runs.map((m) => m.grpc)) };
}

function meanSide(runs: Side[]): Side {
  const average = (pick: (m: Side) => number) =>
    round(runs.reduce((sum, m) => sum + pick(m), 0) / runs.length);
  return {
    rate: average((m) => m.rate),
    p99: average((m) => m.p99),
    errors: runs.reduce((sum, m) => sum + m.errors, 0),
    cpu: average((m) => m.cpu),
  };
}

const cpuMicros = (usage: NodeJS.CpuUsage) => usage.user + usage.system;

const ORDER_COLUMNS = [
  'order_id',
  'strategy_id',
  'instrument_id',
  'side',
  'order_type',
  'status',
  'time_in_force',
  'quantity',
  'filled_quantity',
  'remaining_quantity',
  'price',
  'stop_price',
  'average_fill_price',
  'exchange_order_id',
  'execution_venue',
  'commission',
  'realized_pnl',
  'error_message',
  'created_at',
  'submitted_at',
  'filled_at',
  'cancelled_at',
  'updated_at',
];
const placeholders = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
const SQL = {
  openPosition:
    'SELECT * FROM positions WHERE strategy_id IS NULL AND instrument_id = $1 AND closed_at IS NULL',
  insertOrder: `INSERT INTO orders (${ORDER_COLUMNS.join(', ')}) VALUES (${placeholders(ORDER_COLUMNS.length)})`,
  fillOrder: `UPDATE orders SET status = 'filled', filled_quantity = quantity, remaining_quantity = 0,
    average_fill_price = $2, filled_at = $3, updated_at = $3 WHERE order_id = $1`,
  insertTrade: `INSERT INTO trades (trade_id, order_id, strategy_id, instrument_id, side, quantity, price,
    gross_value, commission, net_value, exchange_trade_id, execution_venue, liquidity_flag, realized_pnl,
    executed_at, created_at, notes) VALUES ($1, $2, NULL, $3, 'buy', $4, $5, $6, 0, $6, NULL, 'paper', 'taker', 0, $7, $7, NULL)`,
  upsertPosition: `INSERT INTO positions (position_id, strategy_id, instrument_id, quantity, average_entry_price,
    current_price, market_value, unrealized_pnl, realized_pnl, total_pnl, cost_basis, exposure, opened_at,
    last_updated, closed_at, created_at, updated_at, notes)
    VALUES ($1, NULL, $2, $3, $4, $4, $5, 0, 0, 0, $5, $5, $6, $6, NULL, $6, $6, NULL)
    ON CONFLICT (position_id) DO UPDATE SET quantity = EXCLUDED.quantity,
      average_entry_price = EXCLUDED.average_entry_price, current_price = EXCLUDED.current_price,
      market_value = EXCLUDED.market_value, cost_basis = EXCLUDED.cost_basis,
      exposure = EXCLUDED.exposure, last_updated = EXCLUDED.last_updated`,
};

/**
 * The baseline: what one filled market buy of 1 at 100 writes, sent by hand.
 * The same round trips as the engine: the open position (the risk check),
 * the order as accepted, then one transaction reading the position again and
 * writing the filled order, its trade and the position.
 */
async function plainOrders(options: {
  url: string;
  schema: string;
  connections: number;
  seconds: number;
}): Promise<Side> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: POOL_SIZE,
    options: `-c search_path=${pg.escapeIdentifier(options.schema)}`,
  });
  const instrument = 'BTC-USD';
  const price = 100;
  // The first order creates the position; the rest update it (as in the engine's run, which
  // starts from an empty schema but whose first orders race to create it).
  const place = async () => {
    const open = await pool.query(SQL.openPosition, [instrument]);
    const held = Number(open.rows[0]?.quantity ?? 0);
    if (held + 1 > 1e9) throw new Error('over the position limit');
    const orderId = randomUUID();
    const at = new Date().toISOString();
    await pool.query(SQL.insertOrder, [
      orderId,
      null,
      instrument,
      'buy',
      'market',
      'accepted',
      'gtc',
      '1',
      '0',
      '1',
      null,
      null,
      null,
      `paper-${orderId.slice(0, 8)}`,
      'paper',
      '0',
      '0',
      null,
      at,
      at,
      null,
      null,
      at,
    ]);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(SQL.openPosition, [instrument]);
      const position = rows[0] as { position_id: string; quantity: string } | undefined;
      const quantity = Number(position?.quantity ?? 0) + 1;
      await client.query(SQL.fillOrder, [orderId, price, at]);
      await client.query(SQL.insertTrade, [randomUUID(), orderId, instrument, 1, price, price, at]);
      await client.query(SQL.upsertPosition, [
        position?.position_id ?? randomUUID(),
        instrument,
        quantity,
        price,
        quantity * price,
        at,
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  };
  try {
    const latencies: number[] = [];
    let errors = 0;
    const cpu = process.cpuUsage();
    const deadline = Date.now() + options.seconds * 1000;
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (Date.now() < deadline) {
          const started = performance.now();
          await place().catch(() => errors++);
          latencies.push(performance.now() - started);
        }
      }),
    );
    return {
      rate: round(latencies.length / options.seconds),
      p99: round(percentile(latencies, 99)),
      errors,
      cpu: round(cpuMicros(process.cpuUsage(cpu)) / Math.max(1, latencies.length)),
    };
  } finally {
    await pool.end();
  }
}
