import type { V1Secret } from '@kubernetes/client-node';
import { checkRedisLogin, generatePassword, type RedisTenant, redisTenant } from '@tse/adapter';
import { SECRET_KEYS, secretValue } from '../builders/secret.ts';
import { type StoreOutcome, storeFailure } from './decisions.ts';
import { keyOf } from './identity.ts';
import { loginOutcome, type StoreStep, StoreTenants } from './stores.ts';

/** An instance's Redis ACL user: provisioned, verified, and released on deletion. */
export class RedisTenants extends StoreTenants {
  protected readonly store = 'redis';
  /** Instances whose user's login was verified since it last changed. */
  private readonly loginVerified = new Set<string>();

  protected async tenantInputs(step: StoreStep) {
    return this.tenantOf(step);
  }

  protected async provisionTenant(step: StoreStep): Promise<StoreOutcome> {
    const { instance, admin } = step;
    const provisioner = this.deps.admin.redis(admin);
    try {
      const tenant = this.tenantOf(step);
      const result = await provisioner.ensure(tenant);
      this.done(instance, result.actions, {
        reason: 'CacheProvisioned',
        message: (types) =>
          `Redis: ACL user ${tenant.user} confined to ${tenant.namespace}:* (${types})`,
      });
      // Redis reports the password hash it holds, so a converged user needs no login to be known good.
      if (result.actions.length > 0 || !this.loginVerified.has(keyOf(instance))) {
        const login = await checkRedisLogin(admin.url, tenant, admin.tls);
        const failed = loginOutcome('Redis', tenant.user, login);
        if (failed) return failed;
        this.loginVerified.add(keyOf(instance));
      }
      return {
        ok: true,
        message: `ACL user ${tenant.user} limited to ${tenant.namespace}:*; login verified`,
        actions: result.actions.length,
      };
    } catch (error) {
      this.loginVerified.delete(keyOf(instance));
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

  override forget(key: string): void {
    super.forget(key);
    this.loginVerified.delete(key);
  }

  /** The ACL user as the instance wants it. */
  private tenantOf({ instance, identity, secret }: StoreStep): RedisTenant {
    return redisTenant(identity, {
      password: secretValue(secret, SECRET_KEYS.redisPassword) ?? '',
      owner: keyOf(instance),
      adoptExistingKeys: instance.spec.redis.adoptExistingKeys,
    });
  }
}
