import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { deriveIdentity, PostgresProvisioner, postgresTenant } from '@tse/adapter';
import { loadConfig, loadProtos, startEngine } from '@tse/engine';
import autocannon from 'autocannon';

import { adminQuery, withCredentials, withDatabase } from '../support/fixtures.ts';
import { providePostgres } from '../support/stores.ts';
import { percentile, printTable, round } from './report.ts';

/**
 * Orders per second and latency through HTTP and gRPC, each order a market
 * order that fills at once: the order, its trade and the position are written
 * to the instance's schema in one transaction.
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
    const provisioner = new PostgresProvisioner(url);
    await provisioner.ensure(
      postgresTenant(identity, { password: 'bench', database: 'bench_orders' }),
    );
    await provisioner.close();
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
    for (let round = 0; round < rounds; round++) {
      opens.push(await run(false));
      authenticateds.push(await run(true));
    }
    const open = mean(opens);
    const authenticated = mean(authenticateds);
    const stored = await adminQuery(
      url,
      `select count(*)::int as n from ${identity.postgresSchema}.orders`,
    );

    const row = (api: string, auth: string, m: Measured['http']) => ({
      api,
      auth,
      orders_per_s: m.rate,
      p99_ms: m.p99,
      errors: m.errors,
    });
    printTable(
      `market orders that fill, persisted, ${connections} concurrent clients, ${seconds}s each, mean of ${rounds} alternated rounds`,
      [
        row('HTTP POST /api/v1/orders', 'none', open.http),
        row('HTTP POST /api/v1/orders', 'bearer token', authenticated.http),
        row('gRPC PlaceOrder', 'none', open.grpc),
        row('gRPC PlaceOrder', 'bearer token', authenticated.grpc),
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
    };
  } finally {
    await postgres.stop();
  }
}

interface Measured {
  http: { rate: number; p99: number; errors: number };
  grpc: { rate: number; p99: number; errors: number };
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
    const http = await autocannon({
      url: `http://127.0.0.1:${engine.ports.http}/api/v1/orders`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authorization },
      body: JSON.stringify({ instrument_id: 'BTC-USD', side: 'buy', quantity: '1' }),
      connections,
      duration: seconds,
    });

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
    client.close();
    return {
      http: {
        rate: round(http.requests.average),
        p99: http.latency.p99,
        errors: http.errors + http.non2xx,
      },
      grpc: {
        rate: round(latencies.length / seconds),
        p99: round(percentile(latencies, 99)),
        errors,
      },
    };
  } finally {
    await engine.stop();
  }
}

/** The mean of several measurements, side by side. */
function mean(runs: Measured[]): Measured {
  const average = (pick: (m: Measured) => number) =>
    round(runs.reduce((sum, m) => sum + pick(m), 0) / runs.length);
  const side = (key: 'http' | 'grpc') => ({
    rate: average((m) => m[key].rate),
    p99: average((m) => m[key].p99),
    errors: runs.reduce((sum, m) => sum + m[key].errors, 0),
  });
  return { http: side('http'), grpc: side('grpc') };
}
