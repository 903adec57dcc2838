/** What the admin connection can do, as read by `ADMIN_CAPABILITIES`. */
export interface AdminCapabilities {
  superuser: boolean;
  createRole: boolean;
  createOnDatabase: boolean;
  ownsDatabase: boolean;
  /** Other databases provisioning would revoke PUBLIC's CONNECT on, that the admin does not own. */
  unownedDatabases?: string[];
}

/**
 * The query that reads the admin connection's capabilities on its own
 * database, and which of the databases named in $1 (text[]) it does not own.
 */
export const ADMIN_CAPABILITIES = `
select r.rolsuper as superuser, r.rolcreaterole as create_role,
       has_database_privilege(current_user, current_database(), 'CREATE') as create_on_database,
       pg_has_role(current_user, d.datdba, 'USAGE') as owns_database,
       array(select o.datname::text from pg_database o
              where o.datname = any($1::text[]) and not pg_has_role(current_user, o.datdba, 'USAGE')
              order by o.datname) as unowned_databases
  from pg_roles r, pg_database d
 where r.rolname = current_user and d.datname = current_database()`;

/**
 * What provisioning needs and the admin connection lacks, each said so that
 * a database administrator knows what to grant. Empty when nothing is missing.
 */
export function missingCapabilities(capabilities: AdminCapabilities): string[] {
  if (capabilities.superuser) return [];
  const missing: string[] = [];
  if (!capabilities.createRole) missing.push('CREATEROLE (to create the login roles)');
  if (!capabilities.createOnDatabase)
    missing.push('CREATE on database (to create the tenant schemas)');
  if (!capabilities.ownsDatabase)
    missing.push('ownership of the database (to grant CONNECT and revoke it from PUBLIC)');
  const unowned = capabilities.unownedDatabases ?? [];
  if (unowned.length > 0)
    missing.push(
      `ownership of database ${unowned.map((name) => `"${name}"`).join(', ')} (to revoke CONNECT and TEMPORARY from PUBLIC there; or leave PUBLIC's CONNECT on other databases to their administrators)`,
    );
  return missing;
}
