import {
  deriveIdentity,
  PostgresProvisioner,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
  StoreUnavailableError,
} from '@tse/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngineProcess } from '../support/engine-process.ts';
import { uniquePrefix } from '../support/fixtures.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';
import { waitFor, within } from '../support/processes.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';

// Servers that keep their connections open and stop answering (a frozen
// process; a network that drops packets looks the same to a client): every
// client of ours gives up within its own timeout, says the store is
// unavailable, and carries on once the server answers again.
let postgres: StoreServer;
let redis: StoreServer;
const prefix = uniquePrefix();
const password = 'frozen-password';

beforeAll(async () => {
  [postgres, redis] = await Promise.all([
    startLocalPostgres(findPostgresBinaries() as string),
    startLocalRedis(findRedisServer() as string),
  ]);
});
afterAll(async () => {
  await Promise.allSettled([postgres?.stop(), redis?.stop()]);
});

/** Runs `work` while `server` is frozen, and lets the server go on whatever happens. */
async function whileFrozen<T>(server: StoreServer, work: () => Promise<T>): Promise<T> {
  const thaw = server.freeze?.();
  if (!thaw) throw new Error(`${server.describe} cannot be frozen`);
  try {
    return await work();
  } finally {
    thaw();
  }
}

const tenants = (name: string) => {
  const identity = deriveIdentity({ instanceName: `${prefix}-system-engine-${name}` });
  return {
    identity,
    postgres: postgresTenant(identity, { password, database: 'postgres' }),
    redis: redisTenant(identity, { password }),
  };
};

describe('a store that stops answering', () => {
  it('fails provisioning as unavailable instead of waiting, and provisions once it answers', async () => {
    const pgAdmin = new PostgresProvisioner(postgres.url, { statementTimeoutMs: 2000 });
    const redisAdmin = new RedisProvisioner(redis.url);
    try {
      // Connections open and in the pools, as a running operator has them.
      const before = tenants('before');
      await pgAdmin.ensure(before.postgres);
      await redisAdmin.ensure(before.redis);

      const during = tenants('during');
      await whileFrozen(postgres, () =>
        expect(within(30_000, pgAdmin.ensure(during.postgres))).rejects.toBeInstanceOf(
          StoreUnavailableError,
        ),
      );
      await whileFrozen(redis, () =>
        expect(within(30_000, redisAdmin.ensure(during.redis))).rejects.toBeInstanceOf(
          StoreUnavailableError,
        ),
      );

      // The same provisioners, their connections given up on, carry on.
      expect((await pgAdmin.ensure(during.postgres)).actions.length).toBeGreaterThan(0);
      expect((await redisAdmin.ensure(during.redis)).actions.map((action) => action.type)).toEqual([
        'claim',
        'setUser',
      ]);
    } finally {
      await pgAdmin.close();
      await redisAdmin.close();
    }
  });

  it('is reported down by the engine within seconds, and up again once it answers', async () => {
    const { identity, postgres: pgTenant, redis: cacheTenant } = tenants('engine');
    const pgAdmin = new PostgresProvisioner(postgres.url);
    const redisAdmin = new RedisProvisioner(redis.url);
    await pgAdmin.ensure(pgTenant);
    await redisAdmin.ensure(cacheTenant);
    await Promise.all([pgAdmin.close(), redisAdmin.close()]);
    const withUser = (url: string, user: string) => {
      const parsed = new URL(url);
      parsed.username = encodeURIComponent(user);
      parsed.password = password;
      return parsed.toString();
    };
    const engine = await startEngineProcess({
      SERVICE_INSTANCE_NAME: identity.instanceName,
      POSTGRES_URL: withUser(postgres.url, identity.postgresSchema),
      REDIS_URL: withUser(redis.url, identity.redisNamespace),
    });
    // The management port's report says why a store is down.
    const dependency = async (name: 'postgres' | 'redis') => {
      const body = (await (await fetch(`${engine.managementUrl}/api/v1/health`)).json()) as {
        dependencies: Record<string, { status: string; reason?: string }>;
      };
      return body.dependencies[name];
    };
    const healthy = () =>
      waitFor('the engine to be healthy', async () => {
        const { body } = await engine.get('/api/v1/health');
        return body.status === 'healthy' ? true : undefined;
      });
    try {
      await healthy();
      for (const [name, server] of [
        ['postgres', postgres],
        ['redis', redis],
      ] as const) {
        const down = await whileFrozen(server, () =>
          waitFor(`${name} to be reported down`, async () => {
            const state = await dependency(name);
            return state?.status === 'down' ? state : undefined;
          }),
        );
        expect(down.reason).toMatch(/timeout|timed out/i);
        await healthy();
      }
    } finally {
      await engine.signal('SIGTERM');
    }
  });
});
