import { OwnershipError } from '../../errors.ts';
import {
  managedRoleComment,
  type ObservedPostgres,
  type PostgresAction,
  type PostgresTenant,
} from './model.ts';

/**
 * The steps that take PostgreSQL from what it has to what the instance needs.
 * Pure: the same inputs always give the same steps; a converged tenant gives none.
 * Refuses (OwnershipError) a role of the same name that we did not create.
 */
export function planPostgres(
  desired: PostgresTenant,
  observed: ObservedPostgres,
): PostgresAction[] {
  const actions: PostgresAction[] = [];
  const { role } = observed;

  if (!role) {
    actions.push({ type: 'createRole' });
  } else {
    assertManaged(desired, role.comment);
    const changes = roleChanges(desired, role);
    if (changes.length > 0) actions.push({ type: 'alterRole', changes });
  }
  const passwordUnknown = !role?.canLogin || observed.passwordWorks === false;
  if (desired.login && passwordUnknown) actions.push({ type: 'setPassword' });
  if (!role || role.searchPath !== desired.schema) actions.push({ type: 'setSearchPath' });

  if (observed.schemaOwner === undefined) actions.push({ type: 'createSchema' });
  else if (observed.schemaOwner !== desired.role) actions.push({ type: 'alterSchemaOwner' });

  if (!role || !observed.canConnect) actions.push({ type: 'grantConnect' });
  if (role && observed.canCreateInPublic) actions.push({ type: 'revokePublicCreate' });
  if (role?.canLogin && !desired.login) actions.push({ type: 'terminateSessions' });
  return actions;
}

/** The steps that drop an instance's schema and role, and nothing else. */
export function planPostgresRemoval(
  desired: PostgresTenant,
  observed: ObservedPostgres,
): PostgresAction[] {
  if (!observed.role) return observed.schemaOwner === desired.role ? [{ type: 'dropSchema' }] : [];
  assertManaged(desired, observed.role.comment);
  const actions: PostgresAction[] = [];
  if (observed.role.canLogin) actions.push({ type: 'alterRole', changes: ['NOLOGIN'] });
  actions.push({ type: 'terminateSessions' });
  if (observed.schemaOwner === desired.role) actions.push({ type: 'dropSchema' });
  actions.push({ type: 'dropRole' });
  return actions;
}

function assertManaged(desired: PostgresTenant, comment: string | null): void {
  if (comment !== managedRoleComment(desired)) {
    throw new OwnershipError(
      `PostgreSQL role "${desired.role}" exists but is not this instance's (its comment is ${JSON.stringify(comment)}, expected ${JSON.stringify(managedRoleComment(desired))}); choose another schema or remove the role`,
    );
  }
}

function roleChanges(
  desired: PostgresTenant,
  role: NonNullable<ObservedPostgres['role']>,
): string[] {
  const changes: string[] = [];
  if (role.canLogin !== desired.login) changes.push(desired.login ? 'LOGIN' : 'NOLOGIN');
  if (role.superuser) changes.push('NOSUPERUSER');
  if (role.createDb) changes.push('NOCREATEDB');
  if (role.createRole) changes.push('NOCREATEROLE');
  if (role.replication) changes.push('NOREPLICATION');
  if (role.bypassRls) changes.push('NOBYPASSRLS');
  if (role.connectionLimit !== desired.connectionLimit)
    changes.push(`CONNECTION LIMIT ${desired.connectionLimit}`);
  return changes;
}
