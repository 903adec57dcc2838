import type { V1Secret } from '@kubernetes/client-node';
import {
  PostgresProvisioner,
  postgresTls,
  RedisProvisioner,
  redactUrl,
  redisTls,
  type StoreTls,
  TseError,
  type WriteFence,
} from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { isNotFound, resourcePath } from '../runtime/kube.ts';
import type { KubeClient } from '../runtime/kube-client.ts';

/** An admin Secret that is missing or holds no usable URL. */
export class AdminSecretError extends TseError {
  readonly code = 'ADMIN_SECRET';
}

/** One store's admin connection and the key that tells which instances share it. */
export interface AdminTarget {
  url: string;
  /** What the URL (and the CA beside it) says about TLS: the engines reach the store the same way. */
  tls: StoreTls;
  /** host:port/database for PostgreSQL, host:port for Redis. */
  storeKey: string;
}

/** An admin connection as configured: a URL and the CA bundle that may go with it. */
export interface AdminSource {
  url?: string;
  ca?: string;
}

type Ref = { name: string; key: string; caKey?: string } | undefined;
type Store = 'PostgreSQL' | 'Redis';

/** Per store: its name for people, the spec field of its admin Secret, how its URL reads. */
const STORES = {
  postgres: {
    label: 'PostgreSQL',
    field: 'spec.postgres.adminSecretRef',
    tls: postgresTls,
    key: postgresKey,
  },
  redis: { label: 'Redis', field: 'spec.redis.adminSecretRef', tls: redisTls, key: redisKey },
} as const;

/**
 * The admin connections instances are provisioned through: the operator's
 * own by default, or a Secret the instance names. Provisioners are shared
 * per URL, so a thousand instances on one server use one small pool.
 */
export class AdminConnections {
  private readonly client: KubeClient;
  private readonly defaults: { postgres: AdminSource; redis: AdminSource };
  private readonly postgresProvisioners = new Map<string, PostgresProvisioner>();
  private readonly redisProvisioners = new Map<string, RedisProvisioner>();
  private readonly resolved = new Map<string, string>();
  /** The operator's own admin connections, read once: the same for every instance and reconcile. */
  private readonly defaultTargets = new Map<'postgres' | 'redis', AdminTarget>();

  private readonly fence: WriteFence | undefined;

  /** `fence`: asked by the store provisioners before each change they send. */
  constructor(
    client: KubeClient,
    defaults: { postgres: AdminSource; redis: AdminSource },
    options: { fence?: WriteFence } = {},
  ) {
    this.client = client;
    this.defaults = defaults;
    this.fence = options.fence;
  }

  /** The admin connections of an instance; reads the Secrets it names. */
  async resolve(
    instance: TradingEngineInstance,
  ): Promise<{ postgres: AdminTarget; redis: AdminTarget }> {
    const [postgres, redis] = await Promise.all([
      this.resolveStore(instance, 'postgres'),
      this.resolveStore(instance, 'redis'),
    ]);
    return { postgres, redis };
  }

  /** One store's admin connection of an instance. */
  async resolveStore(
    instance: TradingEngineInstance,
    store: 'postgres' | 'redis',
  ): Promise<AdminTarget> {
    const ref = instance.spec[store].adminSecretRef;
    const known = ref ? undefined : this.defaultTargets.get(store);
    if (known) return known;
    const { label, field, tls, key } = STORES[store];
    const source = await this.source(
      instance.metadata.namespace,
      ref,
      this.defaults[store],
      label,
      field,
    );
    const target = { url: source.url, tls: adminTls(tls, source), storeKey: key(source.url) };
    if (!ref) this.defaultTargets.set(store, target);
    return target;
  }

  /**
   * Whether a namespace is being deleted, told without the right to read
   * namespaces: a dry-run create in it is refused (NamespaceTerminating) by
   * the API server's namespace lifecycle admission. Nothing is written.
   */
  async namespaceTerminating(namespace: string): Promise<boolean> {
    try {
      await this.client.request('POST', resourcePath('v1', 'Secret', namespace), {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { generateName: 'trading-engine-operator-probe-' },
        },
        query: { dryRun: 'All' },
      });
      return false;
    } catch (error) {
      return /being terminated|NamespaceTerminating/.test(
        `${(error as Error).message} ${JSON.stringify((error as { body?: unknown }).body ?? '')}`,
      );
    }
  }

  /**
   * Calls `listener` with a Redis's store key (host:port) when its admin
   * connection comes back after it was lost: the server may have restarted,
   * and a restarted Redis without persistence has lost every ACL user.
   */
  onRedisReconnect(listener: (storeKey: string) => void): void {
    this.reconnectListeners.push(listener);
  }

  private readonly reconnectListeners: ((storeKey: string) => void)[] = [];

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
      postgres: key(instance.spec.postgres.adminSecretRef, this.defaults.postgres.url, postgresKey),
      redis: key(instance.spec.redis.adminSecretRef, this.defaults.redis.url, redisKey),
    };
  }

  postgres(target: Pick<AdminTarget, 'url' | 'tls'>): PostgresProvisioner {
    const key = poolKey(target);
    let provisioner = this.postgresProvisioners.get(key);
    if (!provisioner) {
      provisioner = new PostgresProvisioner(target.url, { tls: target.tls, fence: this.fence });
      this.postgresProvisioners.set(key, provisioner);
    }
    return provisioner;
  }

  redis(target: Pick<AdminTarget, 'url' | 'tls'>): RedisProvisioner {
    const key = poolKey(target);
    let provisioner = this.redisProvisioners.get(key);
    if (!provisioner) {
      provisioner = new RedisProvisioner(target.url, target.tls, { fence: this.fence });
      this.redisProvisioners.set(key, provisioner);
      const storeKey = redisKey(target.url);
      let connected = false;
      provisioner.admin.on('ready', () => {
        if (connected) for (const listener of this.reconnectListeners) listener(storeKey);
        connected = true;
      });
    }
    return provisioner;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.postgresProvisioners.values()].map((p) => p.close()));
    await Promise.allSettled([...this.redisProvisioners.values()].map((p) => p.close()));
  }

  private async source(
    namespace: string,
    ref: Ref,
    fallback: AdminSource,
    store: Store,
    field: string,
  ): Promise<{ url: string; ca?: string; where: string }> {
    if (!ref) {
      if (!fallback.url)
        throw new AdminSecretError(
          `no ${store} admin connection: set ${field} or configure the operator's default`,
        );
      const where = `the operator's default ${store} admin URL`;
      return fallback.ca
        ? { url: fallback.url, ca: fallback.ca, where }
        : { url: fallback.url, where };
    }
    let secret: V1Secret;
    try {
      secret = await this.client.request('GET', resourcePath('v1', 'Secret', namespace, ref.name));
    } catch (error) {
      if (isNotFound(error))
        throw new AdminSecretError(`${field}: Secret ${namespace}/${ref.name} does not exist`);
      throw error;
    }
    const value = (key: string) => {
      // Own keys only: a key named `constructor` must not find Object's.
      const encoded = Object.hasOwn(secret.data ?? {}, key) ? secret.data?.[key] : undefined;
      if (!encoded)
        throw new AdminSecretError(`${field}: Secret ${namespace}/${ref.name} has no key "${key}"`);
      return Buffer.from(encoded, 'base64').toString('utf8');
    };
    const where = `${field}: Secret ${namespace}/${ref.name} key "${ref.key}"`;
    const url = value(ref.key).trim();
    checkAdminUrl(url, store, where);
    if (new URL(url).searchParams.has('sslrootcert'))
      // A file of the operator's: an instance must not make the operator read its files.
      throw new AdminSecretError(
        `${where}: sslrootcert names a file in the operator's filesystem; put the CA bundle in the Secret and name its key in caKey`,
      );
    this.resolved.set(`${namespace}/${ref.name}/${ref.key}`, url);
    return ref.caKey ? { url, ca: value(ref.caKey), where } : { url, where };
  }
}

/** An admin connection's TLS; a URL and CA that contradict each other are the Secret's fault. */
function adminTls(
  read: (url: string, field: string, ca?: string) => StoreTls,
  source: { url: string; ca?: string; where: string },
): StoreTls {
  try {
    return read(source.url, source.where, source.ca);
  } catch (error) {
    throw new AdminSecretError((error as Error).message, { cause: error });
  }
}

/** Provisioners are shared by connection: the same URL with another CA is another connection. */
function poolKey(target: Pick<AdminTarget, 'url' | 'tls'>): string {
  return `${target.url}\n${target.tls.ca ?? ''}`;
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
