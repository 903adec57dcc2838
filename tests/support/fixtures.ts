import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';

/** A database of a test file's own on the shared PostgreSQL, and its superuser URL. */
export interface TestDatabase {
  name: string;
  url: string;
  adminUrl: string;
}

/** Gives the calling test file a fresh database, dropped when the file ends. */
export function useDatabase(): TestDatabase {
  const adminUrl = inject('postgresUrl');
  const name = `test_${randomBytes(5).toString('hex')}`;
  const url = withDatabase(adminUrl, name);
  const database: TestDatabase = { name, url, adminUrl };
  beforeAll(() => adminQuery(adminUrl, `create database ${name}`));
  afterAll(() => adminQuery(adminUrl, `drop database if exists ${name} with (force)`));
  return database;
}

/** A prefix of a test file's own for Redis names, so files never meet. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

/** The same server URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The same server URL with other credentials. */
export function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** Runs one statement as the superuser on its own connection. */
export async function adminQuery(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}
