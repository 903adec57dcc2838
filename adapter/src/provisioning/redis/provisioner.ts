import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import {
  AdminAuthenticationError,
  AdminCapabilityError,
  describeCause,
  OwnershipError,
  StoreUnavailableError,
} from '../../errors.ts';
import { redisTls, redisTlsOptions, type StoreTls } from '../../store-tls.ts';
import { type LoginCheck, redisPasswordHash } from '../credentials.ts';
import type { WriteFence } from '../tenant.ts';
import {
  assertClaimed,
  CLAIM_SCRIPT,
  CLAIMED_KEY,
  claimCommand,
  RELEASE_SCRIPT,
  usersUnder,
} from './claims.ts';
import { TENANT_COMMAND_RULES } from './commands.ts';
import {
  namespacePatterns,
  type ObservedRedis,
  type RedisAction,
  type RedisTenant,
} from './model.ts';
import { enclosingNamespaces, escapeGlob, OWNERSHIP_KEY } from './ownership.ts';
import { planRedis, planRedisRemoval } from './plan.ts';
import { ADMIN_COMMANDS, missingRedisCapabilities } from './preflight.ts';

/** What a provisioning run did: the actions and the commands they sent. */
export interface RedisProvisionResult {
  actions: RedisAction[];
  commands: string[][];
}

/**
 * Options for an admin or tenant connection that fails fast instead of
 * queueing: no offline queue, and no command waits longer than
 * `commandTimeout` for a server that keeps the connection open and stops
 * answering (frozen, or cut off by a network that drops packets).
 */
export function failFastOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false, // the ready check runs INFO, which tenants may not
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    commandTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
    ...extra,
  };
}

/**
 * Observes, plans and applies an instance's Redis ACL user through an admin
 * connection: the thin executor around `planRedis`.
 */
export class RedisProvisioner {
  readonly admin: Redis;
  private canonical: Promise<string> | undefined;

  private readonly fence: WriteFence | undefined;

  /**
   * `tls`: TLS as the admin connection uses it; what the URL says by default.
   * `fence`: asked before each command that writes.
   */
  constructor(
    adminUrl: string,
    tls: StoreTls = redisTls(adminUrl, 'admin URL'),
    options: { fence?: WriteFence } = {},
  ) {
    this.fence = options.fence;
    this.admin = new Redis(
      adminUrl,
      failFastOptions({ connectionName: 'trading-engine-operator', ...redisTlsOptions(tls) }),
    );
    this.admin.on('error', () => {}); // reported by the command that needs the connection
  }

  /** Reads the user's ACL as Redis reports it. */
  async observe(user: string): Promise<ObservedRedis> {
    const reply = await this.send<unknown>(['ACL', 'GETUSER', user]);
    if (reply === null) return {};
    const fields = toRecord(reply);
    return {
      user: {
        enabled: asStrings(fields.flags).includes('on'),
        passwordHashes: asStrings(fields.passwords),
        commands: String(fields.commands ?? ''),
        keys: String(fields.keys ?? ''),
        channels: String(fields.channels ?? ''),
        selectors: Array.isArray(fields.selectors) ? fields.selectors.length : 0,
      },
    };
  }

  /**
   * The user's ACL and who holds it; while nobody does, also whether keys
   * exist under the namespace and who holds overlapping namespaces (both
   * cost a walk, paid once, when a namespace is first claimed).
   */
  async observeTenant(tenant: Pick<RedisTenant, 'user' | 'namespace'>): Promise<ObservedRedis> {
    const [observed, owner] = await Promise.all([
      this.observe(tenant.user),
      this.send<string | null>(['HGET', OWNERSHIP_KEY, tenant.user]),
    ]);
    if (owner !== null) return { ...observed, owner };
    const [keysExist, overlappingOwners] = await Promise.all([
      this.keysExist(tenant.namespace),
      this.overlappingOwners(tenant),
    ]);
    return { ...observed, keysExist, overlappingOwners };
  }

  /**
   * Checks, once per connection, that the admin user may send every command
   * provisioning needs; says everything that is missing at once.
   */
  async preflight(): Promise<void> {
    this.capable ??= (async () => {
      const verdicts = new Map<readonly string[], string>();
      let me: string;
      try {
        me = String(await this.send(['ACL', 'WHOAMI']));
      } catch (error) {
        if (isStoreRefusal(error)) throw error;
        throw new AdminCapabilityError(
          'the Redis admin user may not run ACL WHOAMI and ACL DRYRUN; use a user with +@all ~* &*',
        );
      }
      for (const command of ADMIN_COMMANDS) {
        const verdict = await this.send<string>(['ACL', 'DRYRUN', me, ...command]).catch(
          (error: Error) => {
            if (isStoreRefusal(error)) throw error;
            return error.message;
          },
        );
        verdicts.set(command, String(verdict));
      }
      const missing = missingRedisCapabilities(verdicts);
      if (missing.length > 0)
        throw new AdminCapabilityError(
          `the Redis admin user "${me}" may not run ${missing.join(', ')}; grant these (with access to all keys) or use a user with +@all ~* &*`,
        );
    })();
    this.capable.catch(() => {
      this.capable = undefined;
    });
    return this.capable;
  }

  private capable: Promise<void> | undefined;

  /**
   * Whether a claim of this provisioner has rebuilt the claimed index from
   * the record: the first one does, so that an index an earlier version
   * left behind (or a record edited by hand) is never trusted.
   */
  private indexRebuilt = false;

  /** Brings the user to the desired state; a converged user gets no ACL command. */
  async ensure(tenant: RedisTenant): Promise<RedisProvisionResult> {
    await this.preflight();
    const [observed, canonical] = await Promise.all([
      this.observeTenant(tenant),
      this.canonicalCommands(),
    ]);
    return this.apply(tenant, planRedis(tenant, observed, canonical));
  }

  /** Deletes the user and the keys of its namespace (and nothing else). */
  async remove(tenant: RedisTenant): Promise<RedisProvisionResult> {
    await this.preflight();
    return this.apply(tenant, planRedisRemoval(tenant, await this.observeTenant(tenant)));
  }

  async apply(tenant: RedisTenant, actions: RedisAction[]): Promise<RedisProvisionResult> {
    const commands: string[][] = [];
    for (const action of actions) {
      if (action.type === 'deleteKeys') {
        commands.push(...(await this.deleteNamespaceKeys(tenant.namespace)));
        continue;
      }
      const command = commandFor(action, tenant, { rebuildIndex: !this.indexRebuilt });
      const reply = await this.write(command);
      commands.push(command);
      if (action.type === 'claim') {
        this.indexRebuilt = true; // by the script, whatever it answered
        assertClaimed(reply, tenant);
      }
      if (action.type === 'release' && reply === 0)
        throw new OwnershipError(
          `Redis ACL user "${tenant.user}" was claimed by another owner before its release; the record was left as it is`,
        );
    }
    return { actions, commands };
  }

  private async keysExist(namespace: string): Promise<boolean> {
    for await (const _ of this.namespaceKeys(namespace)) return true;
    return false;
  }

  /** The namespace's keys, a SCAN batch at a time (empty batches skipped). */
  private async *namespaceKeys(namespace: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.send<[string, string[]]>([
        'SCAN',
        cursor,
        'MATCH',
        `${escapeGlob(namespace)}:*`,
        'COUNT',
        '1000',
      ]);
      if (keys.length > 0) yield keys;
      cursor = next;
    } while (cursor !== '0');
  }

  /**
   * Owners of namespaces overlapping the tenant's (users are named after their
   * namespaces): each namespace it is under, read by name, and those under
   * it, a range of the claimed index. The claim script checks again, in the
   * same step as the claim; this look is what names the refusal first.
   */
  private async overlappingOwners(
    tenant: Pick<RedisTenant, 'user' | 'namespace'>,
  ): Promise<string[]> {
    const above = enclosingNamespaces(tenant.namespace);
    const under = await this.usersUnder(tenant.namespace);
    const named = [...above, ...under];
    if (named.length === 0) return [];
    const owners = await this.send<(string | null)[]>(['HMGET', OWNERSHIP_KEY, ...named]);
    return owners.filter((owner) => owner !== null);
  }

  /**
   * The users claimed under a namespace: a range of the index, or, while the
   * index is not the record's size (written by an earlier version; the next
   * claim rebuilds it), a walk of the record.
   */
  private async usersUnder(namespace: string): Promise<string[]> {
    const [indexed, recorded, range] = await Promise.all([
      this.send<number>(['ZCARD', CLAIMED_KEY]),
      this.send<number>(['HLEN', OWNERSHIP_KEY]),
      this.send<string[]>(['ZRANGEBYLEX', CLAIMED_KEY, ...usersUnder(namespace)]),
    ]);
    if (indexed === recorded) return range;
    const users: string[] = [];
    let cursor = '0';
    do {
      const [next, fields] = await this.send<[string, string[]]>([
        'HSCAN',
        OWNERSHIP_KEY,
        cursor,
        'MATCH',
        `${escapeGlob(namespace)}:*`,
        'COUNT',
        '1000',
      ]);
      for (let i = 0; i < fields.length; i += 2) users.push(String(fields[i]));
      cursor = next;
    } while (cursor !== '0');
    return users;
  }

  /**
   * How this server spells the tenant command rules back: learned once per
   * process from a disabled, throw-away user, so drift is compared exactly.
   */
  canonicalCommands(): Promise<string> {
    this.canonical ??= (async () => {
      const probe = `tse-acl-probe-${randomBytes(6).toString('hex')}`;
      try {
        await this.write(['ACL', 'SETUSER', probe, 'reset', 'off', ...TENANT_COMMAND_RULES]);
        return (await this.observe(probe)).user?.commands ?? '';
      } finally {
        // Cleaning up after itself, fence or not: the probe is nobody else's.
        await this.send(['ACL', 'DELUSER', probe]).catch(() => {});
      }
    })();
    this.canonical.catch(() => {
      this.canonical = undefined;
    });
    return this.canonical;
  }

  async close(): Promise<void> {
    this.admin.disconnect();
  }

  private async deleteNamespaceKeys(namespace: string): Promise<string[][]> {
    const commands: string[][] = [];
    for await (const keys of this.namespaceKeys(namespace)) {
      const command = ['UNLINK', ...keys];
      await this.write(command);
      commands.push(command);
    }
    return commands;
  }

  /** A command that changes something: the fence is asked once the connection is up, right before it goes. */
  private write<T>(command: string[]): Promise<T> {
    return this.send(command, { fenced: true });
  }

  private async send<T>(command: string[], { fenced = false } = {}): Promise<T> {
    try {
      await whenReady(this.admin);
      if (fenced) this.fence?.(`Redis ${command[0]}`);
      const [name, ...args] = command as [string, ...string[]];
      return (await this.admin.call(name, ...args)) as T;
    } catch (error) {
      if (isConnectionError(error)) throw new StoreUnavailableError('redis', error);
      // Not the driver's error as the cause: it carries the AUTH command, password included.
      if (isAuthenticationError(error))
        throw new AdminAuthenticationError('redis', new Error(describeCause(error)));
      throw error;
    }
  }
}

/** The ACL command for one action; arguments travel as separate bulk strings, so nothing needs quoting. */
export function commandFor(
  action: Exclude<RedisAction, { type: 'deleteKeys' }>,
  tenant: RedisTenant,
  { rebuildIndex = false } = {},
): string[] {
  const { keys, channels } = namespacePatterns(tenant.namespace);
  switch (action.type) {
    case 'claim':
      return [...claimCommand(CLAIM_SCRIPT, tenant), rebuildIndex ? 'rebuild' : 'trust'];
    case 'release':
      return claimCommand(RELEASE_SCRIPT, tenant);
    case 'setUser':
      return [
        'ACL',
        'SETUSER',
        tenant.user,
        'reset',
        tenant.enabled ? 'on' : 'off',
        `#${redisPasswordHash(tenant.password)}`,
        keys,
        channels,
        ...TENANT_COMMAND_RULES,
      ];
    case 'killClients':
      return ['CLIENT', 'KILL', 'USER', tenant.user];
    case 'deleteUser':
      return ['ACL', 'DELUSER', tenant.user];
  }
}

/**
 * Logs in as the tenant's user: the proof that its credentials work. The
 * admin connection's TLS holds here too.
 */
export async function checkRedisLogin(
  url: string,
  tenant: Pick<RedisTenant, 'user' | 'password'>,
  tls: StoreTls = redisTls(url, 'admin URL'),
): Promise<LoginCheck> {
  const { hostname, port } = new URL(url);
  const client = new Redis(
    failFastOptions({
      host: hostname,
      port: Number(port || 6379),
      username: tenant.user,
      password: tenant.password,
      retryStrategy: () => null,
      ...redisTlsOptions(tls),
    }),
  );
  // ioredis rejects with "Connection is closed"; the error event says why (a certificate, a reset).
  let cause: Error | undefined;
  client.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await client.connect();
    await client.ping();
    return { ok: true };
  } catch (error) {
    const message = (cause ?? (error as Error)).message;
    return { ok: false, badCredentials: /WRONGPASS|NOPERM|NOAUTH/.test(message), reason: message };
  } finally {
    client.disconnect();
  }
}

/**
 * Resolves once the client is connected, connecting it if it never was;
 * rejects after `timeoutMs` instead of queueing commands for a server that is down.
 */
export async function whenReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end') client.connect().catch(() => {});
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(
    () => reject(new Error(`ETIMEDOUT: not connected after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onError = (error: Error) => reject(error);
  client.on('error', onError);
  client.once('ready', resolve);
  try {
    await promise;
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
    client.off('ready', resolve);
  }
}

/** ioredis's commandTimeout. */
export function isRedisCommandTimeout(error: unknown): boolean {
  return /Command timed out/.test((error as Error)?.message ?? '');
}

/** The store could not be asked at all (down, or the admin login refused): no command's verdict. */
function isStoreRefusal(error: unknown): boolean {
  return error instanceof StoreUnavailableError || error instanceof AdminAuthenticationError;
}

function isAuthenticationError(error: unknown): boolean {
  return /WRONGPASS|NOAUTH/.test((error as Error)?.message ?? '');
}

function isConnectionError(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return (
    isRedisCommandTimeout(error) ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|enableOfflineQueue|max retries per request|connection close/i.test(
      message,
    )
  );
}

function toRecord(reply: unknown): Record<string, unknown> {
  if (reply instanceof Map) return Object.fromEntries(reply);
  if (Array.isArray(reply)) {
    const record: Record<string, unknown> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = reply[i + 1];
    return record;
  }
  return (reply ?? {}) as Record<string, unknown>;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}
