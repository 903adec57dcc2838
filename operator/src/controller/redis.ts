import type { V1Secret } from '@kubernetes/client-node';
import { checkRedisLogin, generatePassword, type Identity, redisTenant } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { SECRET_KEYS, secretValue } from '../builders/secret.ts';
import type { AdminTarget } from './admin.ts';
import { countActions, type ReconcilerDependencies, target } from './context.ts';
import { type StoreOutcome, storeFailure } from './decisions.ts';
import { keyOf } from './identity.ts';

/** An instance's Redis ACL user: provisioned, verified, and released on deletion. */
export class RedisTenants {
  private readonly deps: ReconcilerDependencies;
  /** Instances whose user's login was verified since it last changed. */
  private readonly verified = new Set<string>();

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
  }

  async provision(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret,
  ): Promise<StoreOutcome> {
    const provisioner = this.deps.admin.redis(admin);
    try {
      const tenant = redisTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.redisPassword) ?? '',
        owner: keyOf(instance),
        adoptExistingKeys: instance.spec.redis.adoptExistingKeys,
      });
      const result = await provisioner.ensure(tenant);
      countActions(this.deps.metrics, 'redis', result.actions);
      if (result.actions.length > 0) {
        this.deps.events.record(
          target(instance),
          'Normal',
          'CacheProvisioned',
          `Redis: ACL user ${tenant.user} confined to ${tenant.namespace}:* (${result.actions.map((a) => a.type).join(', ')})`,
        );
      }
      // Redis reports the password hash it holds, so a converged user needs no login to be known good.
      if (result.actions.length > 0 || !this.verified.has(keyOf(instance))) {
        const login = await checkRedisLogin(admin.url, tenant, admin.tls);
        if (!login.ok)
          return {
            ok: false,
            reason: 'RedisLoginFailed',
            message: `login as ${tenant.user} failed: ${login.reason}`,
            retry: true,
          };
        this.verified.add(keyOf(instance));
      }
      return {
        ok: true,
        message: `ACL user ${tenant.user} limited to ${tenant.namespace}:*; login verified`,
        actions: result.actions.length,
      };
    } catch (error) {
      this.verified.delete(keyOf(instance));
      return storeFailure(error, 'redis');
    }
  }

  /**
   * Deletion: Retain disables the user and keeps the keys; Delete deletes the
   * user and the keys of its namespace. Returns what was done, for people.
   */
  async release(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret | undefined,
  ): Promise<string> {
    const redis = this.deps.admin.redis(admin);
    const user = redisTenant(identity, {
      password: secretValue(secret, SECRET_KEYS.redisPassword) ?? generatePassword(),
      enabled: false,
      owner: keyOf(instance),
    });
    const remove = instance.spec.redis.deletionPolicy === 'Delete';
    const result = remove ? await redis.remove(user) : await redis.ensure(user);
    countActions(this.deps.metrics, 'redis', result.actions);
    return remove
      ? `user and ${user.namespace}:* keys deleted`
      : `user ${user.user} disabled, keys kept`;
  }

  /** Forgets an instance that is gone. */
  forget(key: string): void {
    this.verified.delete(key);
  }
}
