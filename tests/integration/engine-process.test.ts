import { spawnSync } from 'node:child_process';
import { hostname as machineName } from 'node:os';
import {
  deriveIdentity,
  engineLockStatements,
  failFastOptions,
  findActiveEngines,
  PostgresProvisioner,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type EngineProcess, startEngineProcess } from '../support/engine-process.ts';
import { adminQuery, uniquePrefix, useDatabase, withCredentials } from '../support/fixtures.ts';
import { findPostgresBinaries, startLocalPostgres } from '../support/postgres.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';

const database = useDatabase();
const running: EngineProcess[] = [];
afterAll(async () => {
  for (const engine of running)
    if (engine.process.child.exitCode === null) await engine.signal('SIGTERM');
});

describe('the engine process on real stores', () => {
  it('starts degraded while PostgreSQL and Redis are down and becomes healthy when they start, without a restart', async () => {
    const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-LH` });
    const [pgPort, redisPort] = await Promise.all([freePort(), freePort()]);
    const password = 'recovery-password';
    const engine = await startEngineProcess({
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_SCHEMA: identity.postgresSchema,
      REDIS_NAMESPACE: identity.redisNamespace,
      POSTGRES_URL: `postgres://${identity.postgresSchema}:${password}@127.0.0.1:${pgPort}/postgres`,
      REDIS_URL: `redis://${encodeURIComponent(identity.redisNamespace)}:${password}@127.0.0.1:${redisPort}`,
    });
    running.push(engine);

    const degraded = await waitFor('both stores to be reported down', async () => {
      const { body } = await engine.get('/api/v1/health');
      const deps = body.dependencies as Record<string, { status: string }>;
      return deps.postgres?.status === 'down' && deps.redis?.status === 'down' ? body : undefined;
    });
    expect(degraded).toMatchObject({ status: 'degraded', ready: false });
    expect((await engine.get('/api/v1/health/ready')).status).toBe(503);

    const postgres = await startLocalPostgres(findPostgresBinaries() as string, { port: pgPort });
    const redis = await startLocalRedis(findRedisServer() as string, { port: redisPort });
    try {
      const pgAdmin = new PostgresProvisioner(postgres.url);
      await pgAdmin.ensure(postgresTenant(identity, { password, database: 'postgres' }));
      await pgAdmin.close();
      const redisAdmin = new RedisProvisioner(redis.url);
      await redisAdmin.ensure(redisTenant(identity, { password }));
      await redisAdmin.close();

      const healthy = await waitFor(
        'the engine to recover',
        async () => {
          const { body } = await engine.get('/api/v1/health');
          return body.status === 'healthy' ? body : undefined;
        },
        { timeoutMs: 20_000 },
      ).catch(async (error) => {
        throw new Error(
          `${error.message}\n${JSON.stringify((await engine.get('/api/v1/health')).body)}`,
        );
      });
      expect(healthy).toMatchObject({
        ready: true,
        instance: identity.instanceName,
        postgres_schema: identity.postgresSchema,
      });
      expect((await engine.get('/api/v1/health/ready')).status).toBe(200);
      expect(engine.logs().some((line) => line.msg === 'schema migrated')).toBe(true);
      expect(engine.logs().some((line) => line.msg === 'postgres is up')).toBe(true);
      expect(await engine.signal('SIGTERM')).toBe(0);
    } finally {
      await Promise.allSettled([postgres.stop(), redis.stop()]);
    }
  });

  it('finishes a slow request after SIGTERM, then exits 0', async () => {
    const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-slow` });
    const password = 'slow-password';
    const provisioner = new PostgresProvisioner(database.url);
    await provisioner.ensure(postgresTenant(identity, { password, database: database.name }));
    await provisioner.close();
    const engine = await startEngineProcess({
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_URL: withCredentials(database.url, identity.postgresSchema, password),
    });
    running.push(engine);
    await waitFor('the engine to be ready', async () =>
      (await engine.get('/api/v1/health/ready')).status === 200 ? true : undefined,
    );

    // Hold a lock on the orders table so that listing orders waits for it.
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query('BEGIN');
    await admin.query(`LOCK TABLE ${identity.postgresSchema}.orders IN ACCESS EXCLUSIVE MODE`);
    const slow = fetch(`${engine.url}/api/v1/orders`, { headers: engine.headers });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exit = engine.signal('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(engine.process.child.exitCode).toBeNull();
    await admin.query('COMMIT');
    await admin.end();

    const response = await slow;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orders: [] });
    expect(await exit).toBe(0);
    expect(engine.logs().map((line) => line.msg)).toEqual(
      expect.arrayContaining(['signal received', 'shut down']),
    );
  });

  it('stops at start with a message naming a bad variable', async () => {
    await expect(startEngineProcess({ ENVIRONMENT: 'staging' })).rejects.toThrow(
      /ENVIRONMENT "staging" is invalid: must be one of development/,
    );
  });

  it('refuses to start in kubernetes without API_TOKEN, naming it and the rule', async () => {
    await expect(startEngineProcess({ ENVIRONMENT: 'kubernetes', API_TOKEN: '' })).rejects.toThrow(
      /API_TOKEN "" is invalid: must be set when ENVIRONMENT is kubernetes/,
    );
  });
});

describe('trading on real stores', () => {
  it("keeps orders, trades and positions across an engine restart, in the instance's schema", async () => {
    const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-restart` });
    const password = 'restart-password';
    const provisioner = new PostgresProvisioner(database.url);
    await provisioner.ensure(postgresTenant(identity, { password, database: database.name }));
    await provisioner.close();
    const env = {
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_URL: withCredentials(database.url, identity.postgresSchema, password),
    };
    const post = (engine: EngineProcess, path: string, body: unknown) =>
      engine.post(path, body).then((r) => r.json());

    const first = await startEngineProcess(env);
    running.push(first);
    await waitFor('the engine to be ready', async () =>
      (await first.get('/api/v1/health/ready')).status === 200 ? true : undefined,
    );
    await post(first, '/api/v1/market-data', { instrument_id: 'BTC-USD', price: '101.25' });
    const order = (await post(first, '/api/v1/orders', {
      instrument_id: 'BTC-USD',
      side: 'buy',
      quantity: '3',
    })) as { order_id: string; status: string };
    expect(order.status).toBe('filled');
    expect(await first.signal('SIGTERM')).toBe(0);

    const second = await startEngineProcess(env);
    running.push(second);
    await waitFor('the engine to be ready again', async () =>
      (await second.get('/api/v1/health/ready')).status === 200 ? true : undefined,
    );
    expect((await second.get(`/api/v1/orders/${order.order_id}`)).body).toMatchObject({
      status: 'filled',
      average_fill_price: '101.25',
    });
    expect((await second.get('/api/v1/trades')).body.trades).toEqual([
      expect.objectContaining({ order_id: order.order_id, quantity: '3' }),
    ]);
    expect((await second.get('/api/v1/positions')).body.positions).toEqual([
      expect.objectContaining({ quantity: '3', average_entry_price: '101.25' }),
    ]);
    const { rows } = await adminQuery(
      database.url,
      `select count(*)::int as n from ${identity.postgresSchema}.orders`,
    );
    expect(rows[0]?.n).toBe(1);
  });
});

describe('one engine per instance', () => {
  const provision = async (name: string) => {
    const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-${name}` });
    const provisioner = new PostgresProvisioner(database.url);
    await provisioner.ensure(
      postgresTenant(identity, { password: `${name}-password`, database: database.name }),
    );
    await provisioner.close();
    return {
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_SCHEMA: identity.postgresSchema,
      POSTGRES_URL: withCredentials(database.url, identity.postgresSchema, `${name}-password`),
    };
  };
  const ready = (engine: EngineProcess) =>
    waitFor('the engine to be ready', async () =>
      (await engine.get('/api/v1/health/ready')).status === 200 ? true : undefined,
    );

  it('lets only one engine of an instance trade; a ready standby takes over within seconds when it stops', async () => {
    const env = await provision('single');
    const first = await startEngineProcess(env);
    running.push(first);
    await ready(first);
    expect((await first.get('/api/v1/health')).body.role).toBe('active');
    const second = await startEngineProcess(env);
    running.push(second);
    // A standby is healthy and ready (it can take over at once), and says it stands by.
    await ready(second);
    const standby = await waitFor('the second engine to stand by', async () => {
      const { body } = await second.get('/api/v1/health');
      return body.role === 'standby' ? body : undefined;
    });
    expect(standby).toMatchObject({ status: 'healthy', ready: true, role: 'standby' });
    const refused = await second.post('/api/v1/market-data', { instrument_id: 'X', price: 1 });
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('another engine holds the lock');

    expect(await first.signal('SIGTERM')).toBe(0);
    // The standby polls the lock every second and becomes active once the first engine's session ends.
    await waitFor('the standby to take over', async () =>
      (await second.get('/api/v1/health')).body.role === 'active' ? true : undefined,
    );
    expect((await second.get('/api/v1/health')).body.reasons).toEqual([]);
  });

  it('stops an active engine whose lock session is gone, so that two never trade at once', async () => {
    const env = await provision('fenced');
    const first = await startEngineProcess(env);
    running.push(first);
    await waitFor('the first engine to be active', async () =>
      (await first.get('/api/v1/health')).body.role === 'active' ? true : undefined,
    );
    const second = await startEngineProcess(env);
    running.push(second);
    await waitFor('the second engine to stand by', async () =>
      (await second.get('/api/v1/health')).body.role === 'standby' ? true : undefined,
    );
    // The active engine's lock session ends behind its back (a failover, a network cut, an admin).
    const { rows } = await adminQuery(
      database.url,
      `select pg_terminate_backend(pid) as ended from pg_locks l join pg_class c on c.oid = l.relation
        where c.relname = 'engine_lock' and c.relnamespace = $1::regnamespace and l.granted`,
      [env.POSTGRES_SCHEMA],
    );
    expect(rows).toEqual([{ ended: true }]);
    // It stops trading and exits (to be restarted as a standby); the standby takes over.
    expect(await first.exited()).toBe(1);
    await waitFor('the standby to take over', async () =>
      (await second.get('/api/v1/health')).body.role === 'active' ? true : undefined,
    );
  });

  it("names the active engine's host where the operator can see it, and lets no other tenant hold the lock", async () => {
    const env = await provision('observed');
    const other = await provision('intruder');
    const engine = await startEngineProcess(env);
    running.push(engine);
    await waitFor('the engine to be active', async () =>
      (await engine.get('/api/v1/health')).body.role === 'active' ? true : undefined,
    );
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const schema = env.POSTGRES_SCHEMA;
      expect(await findActiveEngines(admin, [schema, 'no_such_schema'])).toEqual(
        new Map([[schema, machineName().slice(0, 63)]]),
      );
      // A backup of the schema is not held up by the active engine's lock.
      const dump = spawnSync(
        'pg_dump',
        ['--schema-only', `--schema=${schema}`, `--dbname=${database.url}`],
        {
          encoding: 'utf8',
          timeout: 20_000,
          env: { ...process.env, PGOPTIONS: '-c lock_timeout=5s' },
        },
      );
      expect(dump.stderr).toBe('');
      expect(dump.stdout).toContain(`CREATE TABLE ${schema}.engine_lock`);
    } finally {
      await admin.end();
    }
    // Another tenant's role cannot even name the table, let alone lock it.
    const intruder = new pg.Client({ connectionString: other.POSTGRES_URL });
    await intruder.connect();
    try {
      await intruder.query('BEGIN');
      const { take } = engineLockStatements(env.POSTGRES_SCHEMA);
      await expect(intruder.query(take)).rejects.toThrow(/permission denied/);
    } finally {
      await intruder.end();
    }
  });

  it('keeps engines of different instances on the same stores apart', async () => {
    const a = await startEngineProcess(await provision('apart-a'));
    const b = await startEngineProcess(await provision('apart-b'));
    running.push(a, b);
    await Promise.all([ready(a), ready(b)]);
    const post = (engine: EngineProcess, path: string, body: unknown) => engine.post(path, body);
    await post(a, '/api/v1/market-data', { instrument_id: 'BTC-USD', price: 100 });
    await post(a, '/api/v1/orders', { instrument_id: 'BTC-USD', side: 'buy', quantity: 1 });
    expect(((await a.get('/api/v1/orders')).body.orders as unknown[]).length).toBe(1);
    expect((await b.get('/api/v1/orders')).body.orders).toEqual([]);
    expect((await b.get('/api/v1/positions')).body.positions).toEqual([]);
    // Neither instance's token opens the other: b's token reads nothing of a and writes nothing to it.
    const crossed = await fetch(`${a.url}/api/v1/orders`, { headers: b.headers });
    expect(crossed.status).toBe(401);
    expect(crossed.headers.get('www-authenticate')).toBe('Bearer');
    const write = await fetch(`${a.url}/api/v1/orders`, {
      method: 'POST',
      headers: { ...b.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ instrument_id: 'BTC-USD', side: 'buy', quantity: 1 }),
    });
    expect(write.status).toBe(401);
    expect(((await a.get('/api/v1/orders')).body.orders as unknown[]).length).toBe(1);
    // Nothing either logged holds a token.
    for (const engine of [a, b])
      expect(JSON.stringify(engine.logs())).not.toMatch(new RegExp(`${a.token}|${b.token}`));
  });
});

describe('order events', () => {
  it("are published on the Redis channel inside the instance's namespace", async () => {
    const identity = deriveIdentity({ instanceName: `${uniquePrefix()}-system-engine-events` });
    const password = 'events-password';
    const pgAdmin = new PostgresProvisioner(database.url);
    await pgAdmin.ensure(postgresTenant(identity, { password, database: database.name }));
    await pgAdmin.close();
    const redisAdmin = new RedisProvisioner(inject('redisUrl'));
    await redisAdmin.ensure(redisTenant(identity, { password }));
    await redisAdmin.close();
    const { hostname, port } = new URL(inject('redisUrl'));
    const engine = await startEngineProcess({
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_URL: withCredentials(database.url, identity.postgresSchema, password),
      REDIS_URL: `redis://${encodeURIComponent(identity.redisNamespace)}:${password}@${hostname}:${port}`,
    });
    running.push(engine);
    await waitFor('the engine to be healthy', async () =>
      (await engine.get('/api/v1/health')).body.status === 'healthy' ? true : undefined,
    );

    const subscriber = new Redis(
      failFastOptions({
        host: hostname,
        port: Number(port),
        username: identity.redisNamespace,
        password,
      }),
    );
    subscriber.on('error', () => {});
    const messages: { type: string }[] = [];
    subscriber.on('message', (_, message) => messages.push(JSON.parse(message)));
    await subscriber.connect();
    await subscriber.subscribe(`${identity.redisNamespace}:orders`);
    const post = (path: string, body: unknown) => engine.post(path, body);
    await post('/api/v1/market-data', { instrument_id: 'BTC-USD', price: 100 });
    await post('/api/v1/orders', { instrument_id: 'BTC-USD', side: 'buy', quantity: 1 });
    await waitFor('the events', async () => (messages.length >= 2 ? true : undefined));
    subscriber.disconnect();
    expect(messages.map((message) => message.type)).toEqual(['placed', 'filled']);
  });
});
