import type { Redis } from 'ioredis';
import { ValidationError } from '../errors.ts';

/**
 * A cache and event channel confined to one instance's namespace: every key
 * and channel it touches is `{namespace}:{name}`, the only ones its ACL user
 * may reach.
 */
export interface NamespacedCache {
  readonly namespace: string;
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string, ttlSeconds?: number): Promise<void>;
  delete(name: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
}

/** The full key of a name inside a namespace; refuses names that try to leave it. */
export function namespacedKey(namespace: string, name: string): string {
  if (name.length === 0 || /[*?[\]\\]/.test(name)) {
    throw new ValidationError('key', name, 'must be non-empty and free of Redis glob characters');
  }
  return `${namespace}:${name}`;
}

/** The cache on Redis through ioredis. */
export class RedisCache implements NamespacedCache {
  private readonly redis: Redis;
  readonly namespace: string;

  constructor(redis: Redis, namespace: string) {
    this.redis = redis;
    this.namespace = namespace;
  }

  async get(name: string): Promise<string | undefined> {
    return (await this.redis.get(namespacedKey(this.namespace, name))) ?? undefined;
  }

  async set(name: string, value: string, ttlSeconds?: number): Promise<void> {
    const key = namespacedKey(this.namespace, name);
    if (ttlSeconds) await this.redis.set(key, value, 'EX', ttlSeconds);
    else await this.redis.set(key, value);
  }

  async delete(name: string): Promise<void> {
    await this.redis.del(namespacedKey(this.namespace, name));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(namespacedKey(this.namespace, channel), message);
  }
}

/** The cache in memory, for running without Redis; publishing goes to local listeners. */
export class MemoryCache implements NamespacedCache {
  private readonly values = new Map<string, { value: string; expires: number }>();
  readonly published: { channel: string; message: string }[] = [];

  readonly namespace: string;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  async get(name: string): Promise<string | undefined> {
    const key = namespacedKey(this.namespace, name);
    const entry = this.values.get(key);
    if (entry && entry.expires < Date.now()) this.values.delete(key);
    return entry && entry.expires >= Date.now() ? entry.value : undefined;
  }

  async set(name: string, value: string, ttlSeconds?: number): Promise<void> {
    const expires = ttlSeconds ? Date.now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY;
    this.values.set(namespacedKey(this.namespace, name), { value, expires });
  }

  async delete(name: string): Promise<void> {
    this.values.delete(namespacedKey(this.namespace, name));
  }

  async publish(channel: string, message: string): Promise<void> {
    this.published.push({ channel: namespacedKey(this.namespace, channel), message });
    if (this.published.length > 1000) this.published.shift();
  }
}
