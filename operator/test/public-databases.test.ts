import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { openDatabasesWarning } from '../src/controller/decisions.ts';

describe('openDatabasesWarning', () => {
  it('names the databases and both ways out', () => {
    const warning = openDatabasesWarning(['postgres', 'other_app'], undefined);
    expect(warning?.reason).toBe('DatabasesOpenToPublic');
    expect(warning?.message).toMatch(/database "other_app", "postgres" on this server/);
    expect(warning?.message).toContain('postgres.revokePublicConnect=true');
    expect(warning?.message).toContain('REVOKE CONNECT, TEMPORARY ON DATABASE');
  });

  it('is said once per change of the databases, whatever their order', () => {
    const first = openDatabasesWarning(['postgres', 'other_app'], undefined);
    expect(openDatabasesWarning(['other_app', 'postgres'], first?.key)).toBeUndefined();
    const changed = openDatabasesWarning(['other_app', 'postgres', 'third'], first?.key);
    expect(changed?.message).toMatch(/"third"/);
    expect(openDatabasesWarning(['other_app', 'postgres', 'third'], changed?.key)).toBeUndefined();
  });

  it('says why revoking failed, and says it again when the reason changes', () => {
    const failed = openDatabasesWarning(['other_app'], undefined, 'the admin lacks ownership');
    expect(failed?.message).toMatch(
      /may still connect to PostgreSQL database "other_app".*revoking it failed \(the admin lacks ownership\)/,
    );
    expect(openDatabasesWarning(['other_app'], failed?.key, 'the admin lacks ownership')).toBe(
      undefined,
    );
    expect(openDatabasesWarning(['other_app'], failed?.key, 'a grant remains')).toBeDefined();
  });

  it('says nothing when no other database is open', () => {
    expect(openDatabasesWarning([], undefined)).toBeUndefined();
    expect(openDatabasesWarning([], 'postgres')).toBeUndefined();
  });
});

describe('POSTGRES_REVOKE_PUBLIC_CONNECT', () => {
  it('is off unless set to true, and refuses anything but true or false', () => {
    expect(loadConfig({}).postgresRevokePublicConnect).toBe(false);
    expect(loadConfig({ POSTGRES_REVOKE_PUBLIC_CONNECT: 'true' }).postgresRevokePublicConnect).toBe(
      true,
    );
    expect(
      loadConfig({ POSTGRES_REVOKE_PUBLIC_CONNECT: 'false' }).postgresRevokePublicConnect,
    ).toBe(false);
    expect(() => loadConfig({ POSTGRES_REVOKE_PUBLIC_CONNECT: 'yes' })).toThrow(
      /POSTGRES_REVOKE_PUBLIC_CONNECT.*must be true or false/,
    );
  });
});
