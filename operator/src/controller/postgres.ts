import type { V1Secret } from '@kubernetes/client-node';
import { checkPostgresLogin, type Identity, postgresTenant } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { SECRET_KEYS, secretValue } from '../builders/secret.ts';
import type { AdminTarget } from './admin.ts';
import { countActions, type ReconcilerDependencies, target } from './context.ts';
import { openDatabasesWarning, type StoreOutcome, storeFailure } from './decisions.ts';
import { keyOf } from './identity.ts';

/** An instance's PostgreSQL schema and role: provisioned, verified, and released on deletion. */
export class PostgresTenants {
  private readonly deps: ReconcilerDependencies;
  /** Per instance, the other databases open to PUBLIC it was last warned about. */
  private readonly toldOpenDatabases = new Map<string, string>();

  constructor(deps: ReconcilerDependencies) {
    this.deps = deps;
  }

  async provision(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret,
  ): Promise<StoreOutcome> {
    const provisioner = this.deps.admin.postgres(admin);
    try {
      const tenant = postgresTenant(identity, {
        password: secretValue(secret, SECRET_KEYS.postgresPassword) ?? '',
        database: (await provisioner.database()) || 'postgres',
        connectionLimit: instance.spec.postgres.connectionLimit,
        owner: keyOf(instance),
      });
      const result = await provisioner.ensure(tenant, { policy: this.deps.postgresPolicy ?? {} });
      countActions(this.deps.metrics, 'postgres', result.actions);
      if (result.actions.length > 0) {
        this.deps.events.record(
          target(instance),
          'Normal',
          'DatabaseProvisioned',
          `PostgreSQL: ${result.actions.map((a) => a.type).join(', ')} for schema ${tenant.schema}`,
        );
      }
      this.warnOpenDatabases(instance, result.openToPublic ?? []);
      if (result.actions.length > 0 || !result.loginVerified) {
        const login = await checkPostgresLogin(provisioner.pool.options, tenant);
        if (!login.ok)
          return {
            ok: false,
            reason: 'PostgresLoginFailed',
            message: `login as ${tenant.role} failed: ${login.reason}`,
            retry: true,
          };
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

  /**
   * Deletion: Retain disables the login and keeps the data; Delete drops the
   * schema and role. Returns what was done, for people; throws what stops it
   * (an OwnershipError when the server says the names are someone else's).
   */
  async release(
    instance: TradingEngineInstance,
    identity: Identity,
    admin: AdminTarget,
    secret: V1Secret | undefined,
  ): Promise<string> {
    const postgres = this.deps.admin.postgres(admin);
    const tenant = postgresTenant(identity, {
      password: secretValue(secret, SECRET_KEYS.postgresPassword) ?? '',
      database: (await postgres.database()) || 'postgres',
      connectionLimit: instance.spec.postgres.connectionLimit,
      login: false,
      owner: keyOf(instance),
    });
    const remove = instance.spec.postgres.deletionPolicy === 'Delete';
    const result = remove ? await postgres.remove(tenant) : await postgres.ensure(tenant);
    countActions(this.deps.metrics, 'postgres', result.actions);
    return remove
      ? `schema ${tenant.schema} and role dropped`
      : `schema ${tenant.schema} kept, login disabled`;
  }

  /** Forgets what was told to an instance that is gone. */
  forget(key: string): void {
    this.toldOpenDatabases.delete(key);
  }

  /** Advice, not failure: the instance stays Ready; told once per change of the databases. */
  private warnOpenDatabases(instance: TradingEngineInstance, databases: string[]): void {
    const key = keyOf(instance);
    const warning = openDatabasesWarning(databases, this.toldOpenDatabases.get(key));
    if (databases.length === 0) this.toldOpenDatabases.delete(key);
    if (!warning) return;
    this.toldOpenDatabases.set(key, warning.key);
    this.deps.events.record(target(instance), 'Warning', warning.reason, warning.message);
  }
}
