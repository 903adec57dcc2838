import type { TestProject } from 'vitest/node';
import { providePostgres, provideRedis, type StoreServer } from './stores.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    redisUrl: string;
  }
}

/** Starts the stores once for the integration tests and stops them when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: StoreServer[] = [];
  const teardown = async () => {
    await Promise.allSettled(started.map((server) => server.stop()));
  };
  try {
    const results = await Promise.allSettled([providePostgres(), provideRedis()]);
    for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const [postgres, redis] = started as [StoreServer, StoreServer];
    console.log(`integration stores: ${postgres.describe}; ${redis.describe}`);
    project.provide('postgresUrl', postgres.url);
    project.provide('redisUrl', redis.url);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
