import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { STORE_IMAGES } from '../images/names.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from './postgres.ts';
import { findRedisServer, startLocalRedis } from './redis.ts';

export type { StoreServer } from './postgres.ts';

/** Why a store cannot be had for the tests, and what to do about it. */
export class MissingStoreError extends Error {}

/**
 * PostgreSQL for the tests, from the first source that works: the
 * TEST_POSTGRES_URL variable, a Docker engine through testcontainers, or the
 * local server binaries.
 */
export async function providePostgres(): Promise<StoreServer> {
  const url = process.env.TEST_POSTGRES_URL;
  if (url) return { url, describe: 'PostgreSQL from TEST_POSTGRES_URL', stop: async () => {} };
  if (await dockerReachable()) return startStoreContainer('postgres');
  const binaries = findPostgresBinaries();
  if (binaries) return startLocalPostgres(binaries);
  throw new MissingStoreError(
    'no PostgreSQL for the tests: set TEST_POSTGRES_URL, start a Docker engine, or install the server (apt-get install postgresql)',
  );
}

/** Redis for the tests: TEST_REDIS_URL, testcontainers, or a local redis-server. */
export async function provideRedis(): Promise<StoreServer> {
  const url = process.env.TEST_REDIS_URL;
  if (url) return { url, describe: 'Redis from TEST_REDIS_URL', stop: async () => {} };
  if (await dockerReachable()) return startStoreContainer('redis');
  const binary = findRedisServer();
  if (binary) return startLocalRedis(binary);
  throw new MissingStoreError(
    'no Redis for the tests: set TEST_REDIS_URL, start a Docker engine, or install the server (apt-get install redis-server)',
  );
}

/** Says what is missing without starting anything; undefined when all is there. */
export async function missingStores(): Promise<string[]> {
  const docker = await dockerReachable();
  const missing: string[] = [];
  if (!process.env.TEST_POSTGRES_URL && !docker && !findPostgresBinaries()) {
    missing.push(
      'PostgreSQL: set TEST_POSTGRES_URL, start a Docker engine, or apt-get install postgresql',
    );
  }
  if (!process.env.TEST_REDIS_URL && !docker && !findRedisServer()) {
    missing.push(
      'Redis: set TEST_REDIS_URL, start a Docker engine, or apt-get install redis-server',
    );
  }
  return missing;
}

let docker: Promise<boolean> | undefined;

/** True when a Docker engine answers; looked for only where a socket or DOCKER_HOST says one may be. */
export function dockerReachable(): Promise<boolean> {
  docker ??= (async () => {
    const sockets = ['/var/run/docker.sock', join(homedir(), '.docker/run/docker.sock')];
    if (!process.env.DOCKER_HOST && !sockets.some((socket) => existsSync(socket))) return false;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return docker;
}

/**
 * The images testcontainers starts: TEST_POSTGRES_IMAGE and TEST_REDIS_IMAGE when
 * set (e.g. postgres:15-alpine and redis:7-alpine from Docker Hub), else the ones
 * `npm run images -- --stores` builds from Debian packages.
 */
export function storeImages(
  env: NodeJS.ProcessEnv = process.env,
): Record<keyof typeof STORE_IMAGES, string> {
  return {
    postgres: env.TEST_POSTGRES_IMAGE || STORE_IMAGES.postgres,
    redis: env.TEST_REDIS_IMAGE || STORE_IMAGES.redis,
  };
}

/**
 * Starts PostgreSQL or Redis in a container through testcontainers, with a
 * password (and for PostgreSQL the settings the tests rely on).
 */
export async function startStoreContainer(kind: 'postgres' | 'redis'): Promise<StoreServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const images = storeImages();
  const password = 'tse-test';
  if (kind === 'postgres') {
    const container = await new GenericContainer(images.postgres)
      .withEnvironment({ POSTGRES_PASSWORD: password })
      .withCommand([
        'postgres',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=300',
        '-c',
        'shared_preload_libraries=pg_stat_statements',
      ])
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    const url = `postgres://postgres:${password}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
    return {
      url,
      describe: `PostgreSQL in a container (${images.postgres})`,
      stop: async () => void (await container.stop()),
    };
  }
  const container = await new GenericContainer(images.redis)
    .withCommand(['redis-server', '--requirepass', password, '--save', ''])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  const url = `redis://default:${password}@${container.getHost()}:${container.getMappedPort(6379)}`;
  return {
    url,
    describe: `Redis in a container (${images.redis})`,
    stop: async () => void (await container.stop()),
  };
}
