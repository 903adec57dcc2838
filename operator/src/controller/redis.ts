import type { V1Secret } from '@kubernetes/client-node';
import { checkRedisLogin, generatePassword, redisTenant } from '@tse/adapter';
import { SECRET_KEYS, secretValue } from '../builders/secret.ts';
import { type StoreOutcome, storeFailure } from './decisions.ts';
import { keyOf } from './identity.ts';
import { loginOutcome, type StoreStep, StoreTenants } from './stores.ts';

/** An instance's Redis ACL user: provisioned, verified, and released on deletion. */
export class RedisTenants extends StoreTenants {
  protected readonly store = 'redis';
  /** Instances whose user's login was verified since it last changed. */
  private readonly verified = new Set<string>();

  async provision({ instance, identity, admin, secret }: StoreStep): Promise<StoreOutcome> {
    const provisioner = this.deps.admin.redis(admin);
    try {
      const tenant = redisTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.redisPassword) ?? '',
        owner: keyOf(instance),
        adoptExistingKeys: instance.spec.redis.adoptExistingKeys,
      });
      const result = await provisioner.ensure(tenant);
      this.done(instance, result.actions, {
        reason: 'CacheProvisioned',
        message: (types) =>
          `Redis: ACL user ${tenant.user} confined to ${tenant.namespace}:* (${types})`,
      });
      // Redis reports the password hash it holds, so a converged user needs no login to be known good.
      if (result.actions.length > 0 || !this.verified.has(keyOf(instance))) {
        const login = await checkRedisLogin(admin.url, tenant, admin.tls);
        const failed = loginOutcome('Redis', tenant.user, login);
        if (failed) return failed;
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

  /** Retain disables the user and keeps the keys; Delete deletes the user and its namespace's keys. */
  protected async releaseTenant(step: StoreStep<V1Secret | undefined>, remove: boolean) {
    const redis = this.deps.admin.redis(step.admin);
    const user = redisTenant(step.identity, {
      password: secretValue(step.secret, SECRET_KEYS.redisPassword) ?? generatePassword(),
      enabled: false,
      owner: keyOf(step.instance),
    });
    const result = remove ? await redis.remove(user) : await redis.ensure(user);
    return {
      actions: result.actions,
      message: remove
        ? `user and ${user.namespace}:* keys deleted`
        : `user ${user.user} disabled, keys kept`,
    };
  }

  forget(key: string): void {
    this.verified.delete(key);
  }
}
