import pg from 'pg';
import {
  AdminAuthenticationError,
  AdminCapabilityError,
  ConvergenceError,
  FencedError,
  StoreUnavailableError,
} from '../../errors.ts';
import { postgresConnection, postgresTls, type StoreTls } from '../../store-tls.ts';
import type { LoginCheck } from '../credentials.ts';
import type { WriteFence } from '../tenant.ts';
import { classifyPostgresError, isConcurrentCatalogUpdate } from './failures.ts';
import type { ObservedPostgres, PostgresAction, PostgresPolicy, PostgresTenant } from './model.ts';
import { databasesLeftOpen, planPostgres, planPostgresRemoval } from './plan.ts';
import { ADMIN_CAPABILITIES, missingCapabilities } from './preflight.ts';
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
       case when exists (select from pg_namespace where nspname = 'public')
            then coalesce(has_schema_privilege(r.oid, 'public', 'CREATE'),
                          has_schema_privilege('public', 'public', 'CREATE'))
            else false end as can_create_in_public,
       has_database_privilege('public', current_database(), 'CONNECT')
         or has_database_privilege('public', current_database(), 'TEMPORARY') as public_can_connect,
       array(select d.datname::text from pg_database d
              where d.datallowconn and d.datname not in ('template0', current_database())
                and has_database_privilege('public', d.oid, 'CONNECT')
              order by d.datname) as open_to_public,
       current_database() as database
  from (select $1::name as name) wanted
  left join pg_roles r on r.rolname = wanted.name`;

/**
 * Actions that rewrite a catalog row every tenant shares (the database's or
 * schema public's ACL): two transactions doing so at once fail with "tuple
 * concurrently updated". They take turns in this process and are retried
 * across processes. No server-wide lock is used: a tenant could hold it.
 */
const SHARED_ROW_ACTIONS = new Set<PostgresAction['type']>([
  'grantConnect',
  'revokePublicDatabase',
  'revokePublicOtherDatabase',
  'revokePublicCreate',
]);
let sharedRowTurn: Promise<unknown> = Promise.resolve();

/** How long a provisioning statement may wait for a lock, and run, before it gives up. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** How much longer than the statement timeout the client waits for an answer. */
const ANSWER_GRACE_MS = 5000;

/** What a provisioning run did: the actions, in order, and the statements they ran. */
export interface ProvisionResult {
  actions: PostgresAction[];
  statements: string[];
  /** True when a login with the tenant's password was seen to work before any change. */
  loginVerified?: boolean;
  /** Other databases of the server PUBLIC may connect to, left so by the policy: worth a warning. */
  openToPublic?: string[];
  /**
   * Why PUBLIC's CONNECT on other databases could not be revoked, when the
   * policy asked for it: server-wide, so it never fails the tenant itself.
   */
  publicConnectError?: string;
}

/**
 * Observes, plans and applies an instance's PostgreSQL tenant through an
 * admin connection pool: the thin executor around `planPostgres`.
 */
export class PostgresProvisioner {
  readonly pool: pg.Pool;
  private readonly fence: WriteFence | undefined;

  constructor(
    adminUrl: string,
    options: {
      max?: number;
      lockTimeoutMs?: number;
      statementTimeoutMs?: number;
      /** TLS as the admin connection uses it; what the URL says by default. */
      tls?: StoreTls;
      /** Asked before each transaction commits. */
      fence?: WriteFence;
    } = {},
  ) {
    this.fence = options.fence;
    const statementTimeout = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    this.pool = new pg.Pool({
      ...postgresConnection(adminUrl, options.tls ?? postgresTls(adminUrl, 'admin URL')),
      max: options.max ?? 4,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'trading-engine-operator',
      // Every statement, reads included: a tenant's lock turns into a typed error, never a stall.
      lock_timeout: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      statement_timeout: statementTimeout,
      // And a server that stops answering altogether (frozen, cut off) is given up on by the client.
      query_timeout: statementTimeout + ANSWER_GRACE_MS,
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
      publicCanConnect: row.public_can_connect === true,
      openToPublic: Array.isArray(row.open_to_public) ? (row.open_to_public as string[]) : [],
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

  /**
   * Brings the tenant to the desired state; a converged tenant runs no
   * statement. After a change the result is read back: a plan that would
   * still act means something undoes it, and that is an error, not success.
   * `policy` says what else is done server-wide (PUBLIC's CONNECT on the
   * other databases); what it leaves is reported in `openToPublic`.
   */
  async ensure(
    tenant: PostgresTenant,
    options: { stopAfter?: number; policy?: PostgresPolicy } = {},
  ): Promise<ProvisionResult> {
    const { policy = {} } = options;
    const observed = await this.observe(tenant, () =>
      checkPostgresLogin(this.pool.options, tenant),
    );
    const planned = planPostgres(tenant, observed, policy);
    // The tenant's own steps first, and alone: what is server-wide must not hold it up.
    const actions = planned.filter((action) => !otherDatabasesOf([action]).length);
    if (actions.length > 0) await this.preflight();
    const result: ProvisionResult = {
      ...(await this.apply(tenant, actions, options.stopAfter)),
      openToPublic: databasesLeftOpen(observed, policy),
    };
    if (result.statements.length > 0 && options.stopAfter === undefined) {
      const remaining = planPostgres(tenant, await this.observe(tenant)).filter(
        (action) => !otherDatabasesOf([action]).length,
      );
      if (remaining.length > 0)
        throw new ConvergenceError(
          `PostgreSQL tenant "${tenant.role}" still needs ${remaining.map((a) => a.type).join(', ')} after provisioning`,
        );
    }
    const others = otherDatabasesOf(planned);
    if (others.length > 0 && options.stopAfter === undefined) {
      try {
        const revoked = await this.revokePublicConnect(tenant, others);
        result.actions.push(...revoked.actions);
        result.statements.push(...revoked.statements);
      } catch (error) {
        if (error instanceof FencedError) throw error;
        result.publicConnectError = (error as Error).message;
        result.openToPublic = (await this.observe(tenant)).openToPublic ?? others;
      }
    }
    return result;
  }

  /**
   * Revokes PUBLIC's CONNECT and TEMPORARY on other databases of the server
   * and reads it back. Throws what is missing (the admin must own them) or
   * what remains (a grant by another grantor).
   */
  private async revokePublicConnect(
    tenant: PostgresTenant,
    databases: string[],
  ): Promise<ProvisionResult> {
    await this.preflight(databases);
    const result = await this.apply(
      tenant,
      databases.map((database) => ({ type: 'revokePublicOtherDatabase', database }) as const),
    );
    const stillOpen = (await this.observe(tenant)).openToPublic?.filter((name) =>
      databases.includes(name),
    );
    if (stillOpen && stillOpen.length > 0)
      throw new ConvergenceError(
        `PUBLIC still has CONNECT on database ${stillOpen.map((name) => `"${name}"`).join(', ')} after REVOKE CONNECT, TEMPORARY ... FROM PUBLIC: a grant by another grantor remains; revoke it as that grantor`,
      );
    return result;
  }

  /** Drops the tenant's schema and role (and only those). */
  async remove(tenant: PostgresTenant): Promise<ProvisionResult> {
    return this.apply(tenant, planPostgresRemoval(tenant, await this.observe(tenant)));
  }

  /**
   * Checks that the admin connection can do what provisioning needs,
   * including revoking PUBLIC's CONNECT on `databases` (other databases of
   * the server); says everything that is missing at once. Without other
   * databases the answer is kept for the pool's life.
   */
  async preflight(databases: string[] = []): Promise<void> {
    if (databases.length > 0) return this.checkCapabilities(databases);
    this.capable ??= this.checkCapabilities([]);
    this.capable.catch(() => {
      this.capable = undefined;
    });
    return this.capable;
  }

  private async checkCapabilities(databases: string[]): Promise<void> {
    const { rows } = await this.query<Record<string, unknown>>(ADMIN_CAPABILITIES, [databases]);
    const row = rows[0] ?? {};
    const missing = missingCapabilities({
      superuser: row.superuser === true,
      createRole: row.create_role === true,
      createOnDatabase: row.create_on_database === true,
      ownsDatabase: row.owns_database === true,
      unownedDatabases: Array.isArray(row.unowned_databases)
        ? (row.unowned_databases as string[])
        : [],
    });
    if (missing.length > 0)
      throw new AdminCapabilityError(
        `the PostgreSQL admin connection lacks ${missing.join('; ')}; grant these or use a superuser`,
      );
  }

  private capable: Promise<void> | undefined;

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
    const transaction = () => this.transaction(statements);
    if (!applied.some((action) => SHARED_ROW_ACTIONS.has(action.type))) await transaction();
    else {
      const turn = sharedRowTurn.then(() => withRetries(transaction));
      sharedRowTurn = turn.catch(() => {});
      await turn;
    }
    return { actions: applied, statements };
  }

  private async transaction(statements: string[]): Promise<void> {
    const client = await this.connect();
    // A connection that broke or stopped answering is closed, not given back to the pool.
    let broken = false;
    try {
      await client.query('BEGIN');
      // Each statement too: ending a role's sessions takes effect at once, transaction or not.
      for (const statement of statements) {
        this.fence?.('a PostgreSQL statement');
        await client.query(statement);
      }
      this.fence?.(`the COMMIT of a PostgreSQL transaction (${statements.length} statements)`);
      await client.query('COMMIT');
    } catch (error) {
      const failure = classifyPostgresError(error);
      if (failure instanceof StoreUnavailableError) broken = true;
      else
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      throw failure;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      const code = (error as { code?: string }).code;
      // invalid_password, invalid_authorization_specification: the server answered, and said no.
      if (code === '28P01' || code === '28000')
        throw new AdminAuthenticationError('postgres', error);
      throw new StoreUnavailableError('postgres', error);
    }
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    const client = await this.connect();
    let broken = false;
    try {
      return await client.query<R>(sql, values);
    } catch (error) {
      const failure = classifyPostgresError(error);
      broken = failure instanceof StoreUnavailableError;
      throw failure;
    } finally {
      client.release(broken);
    }
  }
}

/** The other databases whose PUBLIC CONNECT the actions revoke. */
function otherDatabasesOf(actions: PostgresAction[]): string[] {
  return actions.flatMap((action) =>
    action.type === 'revokePublicOtherDatabase' ? [action.database] : [],
  );
}

/** Runs `work` again while another process rewrites the same catalog row. */
async function withRetries(work: () => Promise<void>, attempts = 8): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isConcurrentCatalogUpdate(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 50));
    }
  }
}

/**
 * Logs in as the tenant with its own password: the proof that the
 * credentials work. The admin pool's settings are reused with the tenant's
 * credentials swapped in, so the admin connection's TLS holds here too.
 */
export async function checkPostgresLogin(
  admin: pg.PoolConfig,
  tenant: Pick<PostgresTenant, 'role' | 'password' | 'database' | 'schema'>,
  host?: { host: string; port: number },
): Promise<LoginCheck> {
  const url = new URL(admin.connectionString ?? 'postgres://localhost');
  url.username = encodeURIComponent(tenant.role);
  url.password = encodeURIComponent(tenant.password);
  for (const parameter of ['user', 'password']) url.searchParams.delete(parameter);
  if (tenant.database) url.pathname = `/${encodeURIComponent(tenant.database)}`;
  if (host) {
    url.hostname = host.host;
    url.port = String(host.port);
  }
  const client = new pg.Client({
    connectionString: url.toString(),
    connectionTimeoutMillis: 5000,
    query_timeout: 5000,
    ...(admin.ssl !== undefined && { ssl: admin.ssl }),
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
