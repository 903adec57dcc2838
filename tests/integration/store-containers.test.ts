import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageId, podman } from '../images/podman.ts';
import { type PodmanService, startPodmanService } from '../support/podman-service.ts';
import {
  dockerReachable,
  type StoreServer,
  startStoreContainer,
  storeImages,
} from '../support/stores.ts';

// The same testcontainers path the integration stores take when a Docker engine
// is reachable, here on a podman socket of the test's own: no Docker engine, no
// Docker Hub (Ryuk's image lives there, so it is off; the test stops what it starts).

/** Containers of the store images, whoever started them (other work may run its own containers). */
async function storeContainers(): Promise<string[]> {
  const ancestors = Object.values(storeImages()).flatMap((image) => [
    '--filter',
    `ancestor=${image}`,
  ]);
  const { stdout } = await podman(['ps', '--all', ...ancestors, '--format', '{{.ID}}']);
  return stdout.split('\n').filter(Boolean).sort();
}

const saved = {
  DOCKER_HOST: process.env.DOCKER_HOST,
  TESTCONTAINERS_RYUK_DISABLED: process.env.TESTCONTAINERS_RYUK_DISABLED,
};
let service: PodmanService | undefined;
let containersBefore: string[] = [];
const started: StoreServer[] = [];

beforeAll(async () => {
  for (const image of Object.values(storeImages())) {
    if (!(await imageId(image))) {
      throw new Error(`${image} is missing: build it with \`npm run images -- --stores\``);
    }
  }
  containersBefore = await storeContainers();
  service = await startPodmanService();
  process.env.DOCKER_HOST = service.dockerHost;
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
});

afterAll(async () => {
  await Promise.allSettled(started.map((store) => store.stop()));
  await service?.stop();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('the store images through testcontainers on a podman socket', () => {
  it('find the podman service as a Docker engine', async () => {
    expect(await dockerReachable()).toBe(true);
  });

  it('run PostgreSQL 15 with SCRAM logins and the settings the tests ask for', async () => {
    const postgres = await startStoreContainer('postgres');
    started.push(postgres);
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      await client.query('create table fills (id int primary key, quantity numeric not null)');
      await client.query('insert into fills values (1, 2.5), (2, 4)');
      const { rows } = await client.query(
        `select sum(quantity)::text as total, current_setting('server_version_num')::int / 10000 as major,
                current_setting('password_encryption') as encryption,
                current_setting('shared_preload_libraries') as preload
           from fills`,
      );
      expect(rows[0]).toEqual({
        total: '6.5',
        major: 15,
        encryption: 'scram-sha-256',
        preload: 'pg_stat_statements',
      });
    } finally {
      await client.end();
    }
    const intruder = new pg.Client({
      connectionString: postgres.url.replace(':tse-test@', ':wrong@'),
    });
    await expect(intruder.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('run Redis 7: a real SET and GET, behind a password', async () => {
    const redis = await startStoreContainer('redis');
    started.push(redis);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await client.set('store-containers:key', 'value');
      expect(await client.get('store-containers:key')).toBe('value');
      expect(await client.info('server')).toMatch(/redis_version:7\./);
    } finally {
      client.disconnect();
    }
    const anonymous = new Redis(redis.url.replace(/\/\/[^@]+@/, '//'), {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    anonymous.on('error', () => {});
    await anonymous.connect().catch(() => {});
    await expect(anonymous.get('store-containers:key')).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();
  });

  it('honour POSTGRES_USER and POSTGRES_DB like the official image', async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer(storeImages().postgres)
      .withEnvironment({
        POSTGRES_USER: 'desk',
        POSTGRES_PASSWORD: 's3cret',
        POSTGRES_DB: 'orders',
      })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    started.push({
      url: '',
      describe: 'PostgreSQL',
      stop: async () => void (await container.stop()),
    });
    const client = new pg.Client({
      connectionString: `postgres://desk:s3cret@${container.getHost()}:${container.getMappedPort(5432)}/orders`,
    });
    await client.connect();
    try {
      const { rows } = await client.query(
        'select current_user as who, current_database() as db, rolsuper as superuser from pg_roles where rolname = current_user',
      );
      expect(rows[0]).toEqual({ who: 'desk', db: 'orders', superuser: true });
    } finally {
      await client.end();
    }
  });

  it('leave no container and no podman service behind', async () => {
    await Promise.all(started.splice(0).map((store) => store.stop()));
    await service?.stop();
    expect(service?.process.child.exitCode ?? service?.process.child.signalCode).not.toBeNull();
    expect(existsSync(service?.socket ?? '')).toBe(false);
    expect(await storeContainers()).toEqual(containersBefore);
  });
});
