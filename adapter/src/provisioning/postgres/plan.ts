import { OwnershipError } from '../../errors.ts';
import {
  legacyRoleComment,
  managedRoleComment,
  type ObservedPostgres,
  type PostgresAction,
  type PostgresPolicy,
  type PostgresTenant,
} from './model.ts';

/**
 * The steps that take PostgreSQL from what it has to what the instance needs.
 * Pure: the same inputs always give the same steps; a converged tenant gives none.
 * Refuses (OwnershipError) a role of the same name that we did not create,
 * and a schema of the same name that another role owns: it is never given away.
 */
export function planPostgres(
  desired: PostgresTenant,
  observed: ObservedPostgres,
  policy: PostgresPolicy = {},
): PostgresAction[] {
  const actions: PostgresAction[] = [];
  const { role } = observed;
  if (role) assertManaged(desired, role.comment);
  assertSchemaOurs(desired, observed);

  if (!role) {
    actions.push({ type: 'createRole' });
  } else {
    if (role.comment !== managedRoleComment(desired)) actions.push({ type: 'setComment' });
    const changes = roleChanges(desired, role);
    if (changes.length > 0) actions.push({ type: 'alterRole', changes });
  }
  const passwordUnknown = !role?.canLogin || observed.passwordWorks === false;
  if (desired.login && passwordUnknown) actions.push({ type: 'setPassword' });
  if (!role || role.searchPath !== desired.schema) actions.push({ type: 'setSearchPath' });

  if (observed.schemaOwner === undefined) actions.push({ type: 'createSchema' });

  if (!role || !observed.canConnect) actions.push({ type: 'grantConnect' });
  if (observed.publicCanConnect) actions.push({ type: 'revokePublicDatabase' });
  if (observed.canCreateInPublic) actions.push({ type: 'revokePublicCreate' });
  if (policy.revokePublicConnect)
    for (const database of observed.openToPublic ?? [])
      actions.push({ type: 'revokePublicOtherDatabase', database });
  if (role?.canLogin && !desired.login) actions.push({ type: 'terminateSessions' });
  return actions;
}

/**
 * The server's other databases PUBLIC may still connect to, for the operator
 * to warn about: none when the policy revokes PUBLIC's CONNECT there (the
 * plan does that instead).
 */
export function databasesLeftOpen(
  observed: ObservedPostgres,
  policy: PostgresPolicy = {},
): string[] {
  return policy.revokePublicConnect ? [] : [...(observed.openToPublic ?? [])];
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
  if (comment !== managedRoleComment(desired) && comment !== legacyRoleComment(desired)) {
    throw new OwnershipError(
      `PostgreSQL role "${desired.role}" exists but was not created for this instance (its comment does not carry this instance's marker); nothing was changed: choose another schema (spec.postgres.schema) or have the database administrator remove or rename the role`,
    );
  }
}

function assertSchemaOurs(desired: PostgresTenant, observed: ObservedPostgres): void {
  if (observed.schemaOwner === undefined || observed.schemaOwner === desired.role) return;
  throw new OwnershipError(
    `PostgreSQL schema "${desired.schema}" exists and is owned by another role; it is never taken over and nothing was changed: choose another schema (spec.postgres.schema) or have the database administrator move or drop it`,
  );
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
