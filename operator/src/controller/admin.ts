import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PostgresProvisioner, RedisProvisioner, redactUrl, TseError } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';

/** An admin Secret that is missing or holds no usable URL. */
export class AdminSecretError extends TseError {
  readonly code = 'ADMIN_SECRET';
}

/** One store's admin connection and the key that tells which instances share it. */
export interface AdminTarget {
  url: string;
  /** host:port/database for PostgreSQL, host:port for Redis. */
  storeKey: string;
}

type Ref = { name: string; key: string } | undefined;

/**
 * The admin connections instances are provisioned through: the operator's
 * own by default, or a Secret the instance names. Provisioners are shared
 * per URL, so a thousand instances on one server use one small pool.
 */
export class AdminConnections {
  private readonly api: CoreV1Api;
  private readonly defaults: { postgres?: string; redis?: string };
  private readonly postgresProvisioners = new Map<string, PostgresProvisioner>();
  private readonly redisProvisioners = new Map<string, RedisProvisioner>();
  private readonly resolved = new Map<string, string>();

  constructor(kc: KubeConfig, defaults: { postgres?: string; redis?: string }) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.defaults = defaults;
  }

  /** The admin connections of an instance; reads the Secrets it names. */
  async resolve(
    instance: TradingEngineInstance,
  ): Promise<{ postgres: AdminTarget; redis: AdminTarget }> {
    const namespace = instance.metadata.namespace;
    const postgresUrl = await this.url(
      namespace,
      instance.spec.postgres.adminSecretRef,
      this.defaults.postgres,
      'PostgreSQL',
      'spec.postgres.adminSecretRef',
    );
    const redisUrl = await this.url(
      namespace,
      instance.spec.redis.adminSecretRef,
      this.defaults.redis,
      'Redis',
      'spec.redis.adminSecretRef',
    );
    return {
      postgres: { url: postgresUrl, storeKey: postgresKey(postgresUrl) },
      redis: { url: redisUrl, storeKey: redisKey(redisUrl) },
    };
  }

  /**
   * Which stores an instance uses, from what is known without I/O, for
   * telling which instances can collide: instances on other servers cannot.
   */
  storeKeys(instance: TradingEngineInstance): { postgres: string; redis: string } {
    const key = (ref: Ref, fallback: string | undefined, toKey: (url: string) => string) => {
      const url = ref
        ? this.resolved.get(`${instance.metadata.namespace}/${ref.name}/${ref.key}`)
        : fallback;
      return url ? toKey(url) : `secret:${instance.metadata.namespace}/${ref?.name}`;
    };
    return {
      postgres: key(instance.spec.postgres.adminSecretRef, this.defaults.postgres, postgresKey),
      redis: key(instance.spec.redis.adminSecretRef, this.defaults.redis, redisKey),
    };
  }

  postgres(url: string): PostgresProvisioner {
    let provisioner = this.postgresProvisioners.get(url);
    if (!provisioner) {
      provisioner = new PostgresProvisioner(url);
      this.postgresProvisioners.set(url, provisioner);
    }
    return provisioner;
  }

  redis(url: string): RedisProvisioner {
    let provisioner = this.redisProvisioners.get(url);
    if (!provisioner) {
      provisioner = new RedisProvisioner(url);
      this.redisProvisioners.set(url, provisioner);
    }
    return provisioner;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.postgresProvisioners.values()].map((p) => p.close()));
    await Promise.allSettled([...this.redisProvisioners.values()].map((p) => p.close()));
  }

  private async url(
    namespace: string,
    ref: Ref,
    fallback: string | undefined,
    store: string,
    field: string,
  ): Promise<string> {
    if (!ref) {
      if (!fallback)
        throw new AdminSecretError(
          `no ${store} admin connection: set ${field} or configure the operator's default`,
        );
      return fallback;
    }
    let secret: Awaited<ReturnType<CoreV1Api['readNamespacedSecret']>>;
    try {
      secret = await this.api.readNamespacedSecret({ namespace, name: ref.name });
    } catch (error) {
      if ((error as { code?: number }).code === 404)
        throw new AdminSecretError(`${field}: Secret ${namespace}/${ref.name} does not exist`);
      throw error;
    }
    const encoded = secret.data?.[ref.key];
    if (!encoded)
      throw new AdminSecretError(
        `${field}: Secret ${namespace}/${ref.name} has no key "${ref.key}"`,
      );
    const url = Buffer.from(encoded, 'base64').toString('utf8').trim();
    checkAdminUrl(url, store, `${field}: Secret ${namespace}/${ref.name} key "${ref.key}"`);
    this.resolved.set(`${namespace}/${ref.name}/${ref.key}`, url);
    return url;
  }
}

/**
 * Refuses an admin URL that does not parse or names another store, before
 * anything else parses it: a parser's own error carries the whole input,
 * password included, into whatever logs it.
 */
export function checkAdminUrl(url: string, store: string, where: string): void {
  const protocols = store === 'Redis' ? ['redis:', 'rediss:'] : ['postgres:', 'postgresql:'];
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // the parser's error names the input; ours names only the redacted form
  }
  if (!protocol || !protocols.includes(protocol))
    throw new AdminSecretError(
      `${where} is not a ${protocols.map((p) => `${p}//`).join(' or ')} URL (${redactUrl(url)})`,
    );
}

function postgresKey(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}/${parsed.pathname.slice(1) || 'postgres'}`;
}

function redisKey(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 6379}`;
}
