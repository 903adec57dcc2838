import {
  describeCause,
  failFastOptions,
  isRedisCommandTimeout,
  MemoryCache,
  MemoryStore,
  type NamespacedCache,
  PostgresStore,
  RedisCache,
  redisTlsOptions,
  type TradingStore,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EngineConfig } from '../config.ts';

/** How one dependency is doing. */
export interface DependencyState {
  status: 'up' | 'down' | 'memory';
  reason?: string;
  since: string;
}

export type DependencyName = 'postgres' | 'redis';

/**
 * The engine's stores and how they are doing. A store that is down does not
 * stop the engine: it is retried in the background with capped backoff and
 * reported, and the engine recovers by itself when it returns. No URL at all
 * means in-memory repositories, announced as such.
 */
export class Stores {
  readonly store: TradingStore;
  readonly cache: NamespacedCache;
  private readonly states = new Map<DependencyName, DependencyState>();
  private readonly listeners = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly redis: Redis | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(config: EngineConfig, log: Logger, options: { checkIntervalMs?: number } = {}) {
    this.log = log;
    const { postgresSchema, redisNamespace } = config.identity;
    const interval = options.checkIntervalMs ?? 2000;
    if (config.postgresUrl) {
      const postgres = new PostgresStore({
        url: config.postgresUrl,
        tls: config.postgresTls,
        schema: postgresSchema,
        applicationName: config.identity.instanceName,
      });
      this.store = postgres;
      this.set('postgres', { status: 'down', reason: 'connecting' });
      this.watch('postgres', interval, async () => {
        if (this.states.get('postgres')?.status !== 'up') {
          const applied = await postgres.migrate();
          if (applied.length > 0) log.info({ schema: postgresSchema, applied }, 'schema migrated');
        }
        await postgres.ping();
      });
    } else {
      this.store = new MemoryStore();
      this.set('postgres', {
        status: 'memory',
        reason: 'POSTGRES_URL is not set: data is kept in memory only',
      });
    }
    if (config.redisUrl) {
      this.redis = new Redis(
        config.redisUrl,
        failFastOptions({
          connectionName: config.identity.instanceName,
          ...redisTlsOptions(config.redisTls),
        }),
      );
      this.redis.on('error', () => {}); // the watch loop reports the state
      this.cache = new RedisCache(this.redis, redisNamespace);
      this.set('redis', { status: 'down', reason: 'connecting' });
      const redis = this.redis;
      this.watch('redis', interval, async () => {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
        await redis.ping().catch((error: unknown) => {
          // A server that stopped answering: the connection is made again rather than waited on.
          if (isRedisCommandTimeout(error)) redis.disconnect(true);
          throw error;
        });
      });
    } else {
      this.cache = new MemoryCache(redisNamespace);
      this.set('redis', {
        status: 'memory',
        reason: 'REDIS_URL is not set: the cache is in memory only',
      });
    }
    for (const [name, state] of this.states) {
      if (state.status === 'memory') log.warn({ dependency: name }, state.reason ?? 'in memory');
    }
  }

  /** The state of each dependency. */
  snapshot(): Record<DependencyName, DependencyState> {
    return Object.fromEntries(this.states) as Record<DependencyName, DependencyState>;
  }

  /** True when the trading store can keep what it is given. */
  writable(): boolean {
    return this.states.get('postgres')?.status !== 'down';
  }

  /** Calls `listener` whenever a dependency changes state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.redis?.disconnect();
    await this.store.close();
  }

  private watch(name: DependencyName, intervalMs: number, check: () => Promise<void>): void {
    let failures = 0;
    const run = async () => {
      try {
        await check();
        failures = 0;
        this.set(name, { status: 'up' });
      } catch (error) {
        failures++;
        this.set(name, { status: 'down', reason: describeCause(error) });
      }
      if (this.closed) return;
      const delay =
        failures === 0 ? intervalMs : Math.min(250 * 2 ** Math.min(failures, 5), intervalMs);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void run();
      }, delay);
      timer.unref();
      this.timers.add(timer);
    };
    void run();
  }

  private set(name: DependencyName, state: Omit<DependencyState, 'since'>): void {
    const previous = this.states.get(name);
    if (previous && previous.status === state.status && previous.reason === state.reason) return;
    this.states.set(name, { ...state, since: new Date().toISOString() });
    if (previous) {
      const level = state.status === 'up' ? 'info' : 'warn';
      this.log[level](
        { dependency: name, status: state.status, reason: state.reason },
        `${name} is ${state.status}`,
      );
    }
    for (const listener of this.listeners) listener();
  }
}
