import pg from 'pg';
import { scramVerifier } from '../credentials.ts';
import { managedRoleComment, type PostgresAction, type PostgresTenant } from './model.ts';

const id = pg.escapeIdentifier;
const literal = pg.escapeLiteral;

/**
 * The SQL for one action, every identifier and literal escaped by the driver.
 * Passwords travel as SCRAM verifiers, so the plain text never reaches a log.
 */
export function statementsFor(action: PostgresAction, tenant: PostgresTenant): string[] {
  const role = id(tenant.role);
  const schema = id(tenant.schema);
  switch (action.type) {
    case 'createRole':
      return [
        `CREATE ROLE ${role} ${tenant.login ? 'LOGIN' : 'NOLOGIN'} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT ${tenant.connectionLimit}`,
        `COMMENT ON ROLE ${role} IS ${literal(managedRoleComment(tenant))}`,
      ];
    case 'alterRole':
      return [`ALTER ROLE ${role} ${action.changes.join(' ')}`];
    case 'setPassword':
      return [`ALTER ROLE ${role} PASSWORD ${literal(scramVerifier(tenant.password))}`];
    case 'setSearchPath':
      return [`ALTER ROLE ${role} SET search_path = ${schema}`];
    case 'createSchema':
      return [`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`];
    case 'setComment':
      return [`COMMENT ON ROLE ${role} IS ${literal(managedRoleComment(tenant))}`];
    case 'grantConnect':
      return [`GRANT CONNECT ON DATABASE ${id(tenant.database)} TO ${role}`];
    case 'revokePublicDatabase':
      return [`REVOKE CONNECT, TEMPORARY ON DATABASE ${id(tenant.database)} FROM PUBLIC`];
    case 'revokePublicOtherDatabase':
      return [`REVOKE CONNECT, TEMPORARY ON DATABASE ${id(action.database)} FROM PUBLIC`];
    case 'revokePublicCreate':
      return [`REVOKE CREATE ON SCHEMA public FROM PUBLIC, ${role}`];
    case 'terminateSessions':
      return [
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${literal(tenant.role)}`,
      ];
    case 'dropSchema':
      return [`DROP SCHEMA IF EXISTS ${schema} CASCADE`];
    case 'dropRole':
      return [`DROP OWNED BY ${role}`, `DROP ROLE IF EXISTS ${role}`];
  }
}
