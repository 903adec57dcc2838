import pg from 'pg';
import { StoreUnavailableError } from '../../errors.ts';
import type { LoginCheck } from '../credentials.ts';
import type { ObservedPostgres, PostgresAction, PostgresTenant } from './model.ts';
import { planPostgres, planPostgresRemoval } from './plan.ts';
import { statementsFor } from './statements.ts';

const OBSERVE = `
select r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,
       r.rolbypassrls, r.rolconnlimit,
       shobj_description(r.oid, 'pg_authid') as comment,
       (select substring(c from '^search_path=(.*)$')
          from pg_db_role_setting s, unnest(s.setconfig) c
         where s.setrole = r.oid and s.setdatabase = 0 and c like 'search_path=%') as search_path,
       (select pg_get_userbyid(nspowner) from pg_namespace where nspname = $2) as schema_owner,
       coalesce(has_database_privilege(r.oid, current_database(), 'CONNECT'), false) as can_connect,
       coalesce(has_schema_privilege(r.oid, 'public', 'CREATE'), false) as can_create_in_public,
       current_database() as database
  from (select $1::name as name) wanted
  left join pg_roles r on r.rolname = wanted.name`;

/** The advisory lock that serialises provisioning transactions on one database. */
const PROVISIONING_LOCK = 'trading-engine-operator:provisioning';

/** What a provisioning run did: the actions, in order, and the statements they ran. */
export interface ProvisionResult {
  actions: PostgresAction[];
  statements: string[];
  /** True when a login with the tenant's password was seen to work before any change. */
  loginVerified?: boolean;
}

/**
 * Observes, plans and applies an instance's PostgreSQL tenant through an
 * admin connection pool: the thin executor around `planPostgres`.
 */
export class PostgresProvisioner {
  readonly pool: pg.Pool;

  constructor(adminUrl: string, options: { max?: number } = {}) {
    this.pool = new pg.Pool({
      connectionString: adminUrl,
      max: options.max ?? 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'trading-engine-operator',
    });
    this.pool.on('error', () => {}); // an idle client's lost connection is reported by the next query
  }

  /** The database tenants are created in: the admin connection's own. */
  async database(): Promise<string> {
    // The admin URL fixes the database, so one query answers for the pool's life.
    this.databaseName ??= this.query<{ db: string }>('select current_database() as db').then(
      (result) => result.rows[0]?.db ?? '',
    );
    this.databaseName.catch(() => {
      this.databaseName = undefined;
    });
    return this.databaseName;
  }

  private databaseName: Promise<string> | undefined;

  /** Reads what PostgreSQL has of the tenant; checks the password when `checkLogin` is given. */
  async observe(
    tenant: Pick<PostgresTenant, 'role' | 'schema'>,
    checkLogin?: () => Promise<LoginCheck>,
  ): Promise<ObservedPostgres> {
    const { rows } = await this.query<Record<string, unknown>>(OBSERVE, [
      tenant.role,
      tenant.schema,
    ]);
    const row = rows[0] ?? {};
    const observed: ObservedPostgres = {
      canConnect: row.can_connect === true,
      canCreateInPublic: row.can_create_in_public === true,
    };
    if (typeof row.schema_owner === 'string') observed.schemaOwner = row.schema_owner;
    if (typeof row.rolcanlogin === 'boolean') {
      observed.role = {
        comment: (row.comment as string | null) ?? null,
        canLogin: row.rolcanlogin,
        superuser: row.rolsuper === true,
        createDb: row.rolcreatedb === true,
        createRole: row.rolcreaterole === true,
        replication: row.rolreplication === true,
        bypassRls: row.rolbypassrls === true,
        connectionLimit: Number(row.rolconnlimit),
        searchPath: (row.search_path as string | null) ?? null,
      };
      if (row.rolcanlogin && checkLogin) {
        const login = await checkLogin();
        // Only a refused password says the password is wrong; a full connection limit does not.
        if (login.ok || login.badCredentials) observed.passwordWorks = login.ok;
      }
    }
    return observed;
  }

  /** Brings the tenant to the desired state; a converged tenant runs no statement. */
  async ensure(
    tenant: PostgresTenant,
    options: { stopAfter?: number } = {},
  ): Promise<ProvisionResult> {
    const observed = await this.observe(tenant, () =>
      checkPostgresLogin(this.pool.options, tenant),
    );
    return this.apply(tenant, planPostgres(tenant, observed), options.stopAfter);
  }

  /** Drops the tenant's schema and role (and only those). */
  async remove(tenant: PostgresTenant): Promise<ProvisionResult> {
    return this.apply(tenant, planPostgresRemoval(tenant, await this.observe(tenant)));
  }

  /**
   * Runs the actions in one transaction, so a cut-off run leaves nothing half
   * done; `stopAfter` applies only a prefix (to prove that re-runs converge).
   */
  async apply(
    tenant: PostgresTenant,
    actions: PostgresAction[],
    stopAfter = actions.length,
  ): Promise<ProvisionResult> {
    const applied = actions.slice(0, stopAfter);
    const statements = applied.flatMap((action) => statementsFor(action, tenant));
    if (statements.length === 0) return { actions: applied, statements };
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      // GRANT CONNECT and friends rewrite one shared catalog row (the database's ACL):
      // concurrent tenants would fail with "tuple concurrently updated", so they take turns.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [PROVISIONING_LOCK]);
      for (const statement of statements) await client.query(statement);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    return { actions: applied, statements };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw new StoreUnavailableError('postgres', error);
    }
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const client = await this.connect();
    try {
      return await client.query<R>(sql, values);
    } finally {
      client.release();
    }
  }
}

/** Logs in as the tenant with its own password: the proof that the credentials work. */
export async function checkPostgresLogin(
  admin: pg.PoolConfig,
  tenant: Pick<PostgresTenant, 'role' | 'password' | 'database' | 'schema'>,
  host?: { host: string; port: number },
): Promise<LoginCheck> {
  const url = new URL(admin.connectionString ?? 'postgres://localhost');
  const client = new pg.Client({
    host: host?.host ?? url.hostname,
    port: host?.port ?? Number(url.port || 5432),
    database: tenant.database || url.pathname.slice(1),
    user: tenant.role,
    password: tenant.password,
    connectionTimeoutMillis: 5000,
    ssl: admin.ssl,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
    if (rows[0]?.schema !== tenant.schema) {
      return {
        ok: false,
        badCredentials: false,
        reason: `search_path resolves to ${rows[0]?.schema}, not ${tenant.schema}`,
      };
    }
    return { ok: true };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return {
      ok: false,
      badCredentials: code === '28P01' || code === '28000',
      reason: (error as Error).message,
    };
  } finally {
    await client.end().catch(() => {});
  }
}
