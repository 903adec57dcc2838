import {
  deriveIdentity,
  failFastOptions,
  MemoryCache,
  MemoryStore,
  type NamespacedCache,
  PostgresProvisioner,
  PostgresStore,
  postgresTenant,
  RedisCache,
  RedisProvisioner,
  redisTenant,
  type TradingStore,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniquePrefix, useDatabase, withCredentials } from '../support/fixtures.ts';
import { order, position, strategy, trade } from '../support/records.ts';

const database = useDatabase();
const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-store` });
const password = 'store-contract-password';
const closers: (() => Promise<void> | void)[] = [];

async function postgresStore(): Promise<TradingStore> {
  const provisioner = new PostgresProvisioner(database.url);
  await provisioner.ensure(postgresTenant(identity, { password, database: database.name }));
  await provisioner.close();
  const store = new PostgresStore({
    url: withCredentials(database.url, identity.postgresSchema, password),
    schema: identity.postgresSchema,
  });
  await store.migrate();
  closers.push(() => store.close());
  return store;
}

async function redisCache(): Promise<NamespacedCache> {
  const provisioner = new RedisProvisioner(inject('redisUrl'));
  await provisioner.ensure(redisTenant(identity, { password }));
  await provisioner.close();
  const { hostname, port } = new URL(inject('redisUrl'));
  const client = new Redis(
    failFastOptions({
      host: hostname,
      port: Number(port),
      username: identity.redisNamespace,
      password,
    }),
  );
  client.on('error', () => {});
  await client.connect();
  closers.push(() => client.disconnect());
  return new RedisCache(client, identity.redisNamespace);
}

afterAll(async () => {
  for (const close of closers) await close();
});

describe.each([
  ['memory', async () => new MemoryStore()],
  ['postgres', postgresStore],
])('the %s trading store', (_, open) => {
  let store: TradingStore;
  beforeAll(async () => {
    store = await open();
  });

  it('saves and reads back every model with its decimals exact', async () => {
    const s = await store.strategies.save(strategy({ max_position_size: '5.00000000' }));
    const o = await store.orders.save(order({ strategy_id: s.strategy_id, price: '0.00000001' }));
    const t = await store.trades.save(trade(o.order_id, { strategy_id: s.strategy_id }));
    const p = await store.positions.save(position({ strategy_id: s.strategy_id }));
    expect(await store.strategies.get(s.strategy_id)).toEqual({ ...s, max_position_size: '5' });
    expect((await store.orders.get(o.order_id))?.price).toBe('0.00000001');
    expect(await store.trades.get(t.trade_id)).toEqual(t);
    expect(await store.positions.findOpen(s.strategy_id, 'BTC-USD')).toEqual(p);
  });

  it('updates a record saved again under the same id', async () => {
    const o = await store.orders.save(order());
    await store.orders.save({
      ...o,
      status: 'filled',
      filled_quantity: '1.5',
      remaining_quantity: '0',
    });
    expect(await store.orders.get(o.order_id)).toMatchObject({
      status: 'filled',
      remaining_quantity: '0',
    });
  });

  it('writes a record as save stores it, inserting or replacing, without answering it', async () => {
    const written = order({ price: '2.50000000' });
    expect(await store.orders.write(written)).toBeUndefined();
    const stored = await store.orders.get(written.order_id);
    expect(stored).toMatchObject({ price: '2.5', status: written.status });
    await store.orders.write({ ...written, status: 'filled', remaining_quantity: '0' });
    expect(await store.orders.get(written.order_id)).toMatchObject({
      status: 'filled',
      remaining_quantity: '0',
    });
    const saved = await store.positions.save(position());
    await store.positions.write({ ...saved, quantity: '3.00000000' });
    expect((await store.positions.get(saved.position_id))?.quantity).toBe('3');
  });

  it('lists newest first, filtered and paged', async () => {
    const instrument = `ETH-${Math.random().toString(36).slice(2, 8)}`;
    const saved = [];
    for (let second = 10; second < 15; second++) {
      const created_at = new Date(Date.UTC(2026, 0, 2, 0, 0, second)).toISOString();
      saved.push(
        await store.orders.save(
          order({ instrument_id: instrument, created_at, updated_at: created_at }),
        ),
      );
    }
    const firstPage = await store.orders.list(
      { instrument_id: instrument },
      { limit: 2, offset: 0 },
    );
    const secondPage = await store.orders.list(
      { instrument_id: instrument },
      { limit: 2, offset: 2 },
    );
    expect(firstPage.map((o) => o.order_id)).toEqual([saved[4]?.order_id, saved[3]?.order_id]);
    expect(secondPage.map((o) => o.order_id)).toEqual([saved[2]?.order_id, saved[1]?.order_id]);
  });

  it('answers undefined for an unknown id and refuses an unknown filter', async () => {
    expect(await store.orders.get('no-such-order')).toBeUndefined();
    await expect(store.orders.list({ nonsense: 'x' } as never)).rejects.toThrow(
      /filter "nonsense" is invalid/,
    );
  });

  it('finds no open position once it is closed', async () => {
    const p = await store.positions.save(position({ instrument_id: 'SOL-USD' }));
    await store.positions.save({ ...p, quantity: '0', closed_at: new Date().toISOString() });
    expect(await store.positions.findOpen(null, 'SOL-USD')).toBeUndefined();
  });

  it('answers a ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe.each([
  ['memory', async () => new MemoryCache(identity.redisNamespace)],
  ['redis', redisCache],
])('the %s cache', (_, open) => {
  let cache: NamespacedCache;
  beforeAll(async () => {
    cache = await open();
  });

  it('keeps values inside the namespace', async () => {
    await cache.set('price:BTC-USD', '100');
    expect(await cache.get('price:BTC-USD')).toBe('100');
    await cache.delete('price:BTC-USD');
    expect(await cache.get('price:BTC-USD')).toBeUndefined();
    await cache.publish('orders', '{}');
  });

  it('refuses key names with glob characters', async () => {
    await expect(cache.get('*')).rejects.toThrow(/glob/);
  });
});

describe('the schema migrations', () => {
  it('apply once and report the schema version through the health function', async () => {
    const store = (await postgresStore()) as PostgresStore;
    expect(await store.migrate()).toEqual([]);
    const { rows } = await store.pool.query(
      'select schema_name, schema_version from health_check()',
    );
    expect(rows).toEqual([{ schema_name: identity.postgresSchema, schema_version: 2 }]);
  });

  it('keep updated_at current on every update', async () => {
    const store = (await postgresStore()) as PostgresStore;
    const saved = await store.orders.save(order());
    const updated = await store.orders.save({ ...saved, status: 'submitted' });
    expect(updated.updated_at > saved.updated_at).toBe(true);
  });
});
