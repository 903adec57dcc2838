import type { V1Secret } from '@kubernetes/client-node';
import { checkPostgresLogin, postgresTenant } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { SECRET_KEYS, secretValue } from '../builders/secret.ts';
import { target } from './context.ts';
import { openDatabasesWarning, type StoreOutcome, storeFailure } from './decisions.ts';
import { keyOf } from './identity.ts';
import { loginOutcome, type StoreStep, StoreTenants } from './stores.ts';

/** An instance's PostgreSQL schema and role: provisioned, verified, and released on deletion. */
export class PostgresTenants extends StoreTenants {
  protected readonly store = 'postgres';
  /** Per instance, the other databases open to PUBLIC it was last warned about. */
  private readonly toldOpenDatabases = new Map<string, string>();

  protected async tenantInputs(step: StoreStep) {
    return this.tenantOf(step);
  }

  protected async provisionTenant(step: StoreStep): Promise<StoreOutcome> {
    const { instance, admin } = step;
    const provisioner = this.deps.admin.postgres(admin);
    try {
      const { tenant, policy } = await this.tenantOf(step);
      const result = await provisioner.ensure(tenant, { policy });
      this.done(instance, result.actions, {
        reason: 'DatabaseProvisioned',
        message: (types) => `PostgreSQL: ${types} for schema ${tenant.schema}`,
      });
      this.warnOpenDatabases(instance, result.openToPublic ?? [], result.publicConnectError);
      if (result.actions.length > 0 || !result.loginVerified) {
        const login = await checkPostgresLogin(provisioner.pool.options, tenant);
        const failed = loginOutcome('Postgres', tenant.role, login);
        if (failed) return failed;
      }
      return {
        ok: true,
        message: `schema ${tenant.schema} owned by role ${tenant.role}; login verified`,
        actions: result.actions.length,
      };
    } catch (error) {
      return storeFailure(error, 'postgres');
    }
  }

  /** The tenant as the instance wants it, and the server-wide policy that goes with it. */
  private async tenantOf({ instance, identity, admin, secret }: StoreStep) {
    const provisioner = this.deps.admin.postgres(admin);
    const tenant = postgresTenant(identity, {
      password: secretValue(secret, SECRET_KEYS.postgresPassword) ?? '',
      database: (await provisioner.database()) || 'postgres',
      connectionLimit: instance.spec.postgres.connectionLimit,
      owner: keyOf(instance),
    });
    // Server-wide changes only on the operator's own servers, never through a tenant's admin Secret.
    const policy = instance.spec.postgres.adminSecretRef ? {} : (this.deps.postgresPolicy ?? {});
    return { tenant, policy };
  }

  /** Retain disables the login and keeps the data; Delete drops the schema and role. */
  protected async releaseTenant(step: StoreStep<V1Secret | undefined>, remove: boolean) {
    const postgres = this.deps.admin.postgres(step.admin);
    const tenant = postgresTenant(step.identity, {
      password: secretValue(step.secret, SECRET_KEYS.postgresPassword) ?? '',
      database: (await postgres.database()) || 'postgres',
      connectionLimit: step.instance.spec.postgres.connectionLimit,
      login: false,
      owner: keyOf(step.instance),
    });
    if (remove)
      return {
        actions: (await postgres.remove(tenant)).actions,
        message: `schema ${tenant.schema} and role dropped`,
      };
    return {
      actions: (await postgres.ensure(tenant)).actions,
      message: `schema ${tenant.schema} kept, login disabled`,
    };
  }

  override forget(key: string): void {
    super.forget(key);
    this.toldOpenDatabases.delete(key);
  }

  /** Advice, not failure: the instance stays Ready; told once per change of the databases. */
  private warnOpenDatabases(
    instance: TradingEngineInstance,
    databases: string[],
    failure: string | undefined,
  ): void {
    const key = keyOf(instance);
    const warning = openDatabasesWarning(databases, this.toldOpenDatabases.get(key), failure);
    if (databases.length === 0) this.toldOpenDatabases.delete(key);
    if (!warning) return;
    this.toldOpenDatabases.set(key, warning.key);
    this.deps.events.record(target(instance), 'Warning', warning.reason, warning.message);
  }
}
