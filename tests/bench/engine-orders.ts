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
    },
  });
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
    const engine = await startEngine(
      loadConfig({
        SERVICE_INSTANCE_NAME: identity.instanceName,
        POSTGRES_URL: withCredentials(url, identity.postgresSchema, 'bench'),
        HTTP_PORT: '0',
        GRPC_PORT: '0',
        MANAGEMENT_PORT: '0',
        LOG_LEVEL: 'warn',
        // Measured with authentication, as engines run; one client this fast is no abuse.
        API_TOKEN: token,
        RATE_LIMIT_PER_SECOND: '0',
      }),
      { host: '127.0.0.1', logDestination: new Writable({ write: (_, __, done) => done() }) },
    );
    for (let i = 0; i < 100 && !engine.status.ready(); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    await engine.trading.marketData('BTC-USD', '100');
    const body = JSON.stringify({ instrument_id: 'BTC-USD', side: 'buy', quantity: '1' });

    const http = await autocannon({
      url: `http://127.0.0.1:${engine.ports.http}/api/v1/orders`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body,
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
    metadata.set('authorization', `Bearer ${token}`);
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
    const stored = await adminQuery(
      url,
      `select count(*)::int as n from ${identity.postgresSchema}.orders`,
    );
    await engine.stop();

    const grpcRate = latencies.length / seconds;
    printTable(
      `market orders that fill, persisted, ${connections} concurrent clients, ${seconds}s each`,
      [
        {
          api: 'HTTP POST /api/v1/orders',
          orders_per_s: round(http.requests.average),
          p99_ms: http.latency.p99,
          errors: http.errors + http.non2xx,
        },
        {
          api: 'gRPC PlaceOrder',
          orders_per_s: round(grpcRate),
          p99_ms: round(percentile(latencies, 99)),
          errors,
        },
      ],
    );
    console.log(`orders stored in ${identity.postgresSchema}.orders: ${stored.rows[0]?.n}`);
    return {
      http_orders_per_second: round(http.requests.average),
      http_p99_ms: http.latency.p99,
      grpc_orders_per_second: round(grpcRate),
      grpc_p99_ms: round(percentile(latencies, 99)),
      orders_stored: stored.rows[0]?.n ?? 0,
    };
  } finally {
    await postgres.stop();
  }
}
