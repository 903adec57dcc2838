import pg from 'pg';

/**
 * One engine trades per instance: the one that holds an EXCLUSIVE lock on
 * this table in the instance's own schema (EXCLUSIVE, not ACCESS EXCLUSIVE:
 * readers such as pg_dump of the schema are not blocked by it). Only the instance's role (and the
 * admin) can lock it, so no other tenant can keep an engine on standby; the
 * lock dies with the session, so a dead engine frees it at once.
 */
export const ENGINE_LOCK_TABLE = 'engine_lock';

/** What an engine runs on its lock connection: create the table if missing, then queue for the lock. */
export function engineLockStatements(schema: string): { create: string; take: string } {
  const table = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(ENGINE_LOCK_TABLE)}`;
  return {
    create: `CREATE TABLE IF NOT EXISTS ${table} ()`,
    take: `LOCK TABLE ${table} IN EXCLUSIVE MODE`,
  };
}

/** Something that runs a query (a pool or a client). */
interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Which engine holds each instance's lock on this database, by schema: the
 * holder's `application_name` (an engine sets it to its host name, which is
 * its pod's name). Only sessions of the instance's own role count.
 */
export async function findActiveEngines(
  db: Queryable,
  schemas: string[],
): Promise<Map<string, string>> {
  if (schemas.length === 0) return new Map();
  const { rows } = await db.query<{ schema: string; holder: string }>(
    `SELECT n.nspname AS schema, a.application_name AS holder
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'relation' AND l.mode = 'ExclusiveLock' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND c.relname = $1 AND n.nspname = ANY($2) AND a.usename = n.nspname`,
    [ENGINE_LOCK_TABLE, schemas],
  );
  return new Map(rows.map((row) => [row.schema, row.holder]));
}
