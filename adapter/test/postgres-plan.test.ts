import { describe, expect, it } from 'vitest';
import { OwnershipError } from '../src/errors.ts';
import {
  databasesLeftOpen,
  legacyRoleComment,
  managedRoleComment,
  missingCapabilities,
  type ObservedPostgres,
  type PostgresTenant,
  planPostgres,
  planPostgresRemoval,
  statementsFor,
} from '../src/provisioning/index.ts';

const tenant = (changes: Partial<PostgresTenant> = {}): PostgresTenant => ({
  role: 'trading_system_engine_lh',
  schema: 'trading_system_engine_lh',
  database: 'trading',
  password: 'secret',
  connectionLimit: 20,
  login: true,
  ...changes,
});

const converged = (
  changes: Partial<ObservedPostgres> = {},
  role: Partial<NonNullable<ObservedPostgres['role']>> = {},
): ObservedPostgres => ({
  role: {
    comment: managedRoleComment(tenant()),
    canLogin: true,
    superuser: false,
    createDb: false,
    createRole: false,
    replication: false,
    bypassRls: false,
    connectionLimit: 20,
    searchPath: 'trading_system_engine_lh',
    ...role,
  },
  passwordWorks: true,
  schemaOwner: 'trading_system_engine_lh',
  canConnect: true,
  canCreateInPublic: false,
  ...changes,
});

const types = (actions: { type: string }[]) => actions.map((action) => action.type);

describe('planPostgres', () => {
  it('creates everything for a new tenant', () => {
    const plan = planPostgres(tenant(), { canConnect: false, canCreateInPublic: false });
    expect(types(plan)).toEqual([
      'createRole',
      'setPassword',
      'setSearchPath',
      'createSchema',
      'grantConnect',
    ]);
  });

  it('plans nothing for a converged tenant', () => {
    expect(planPostgres(tenant(), converged())).toEqual([]);
  });

  it('plans nothing when the password could not be checked', () => {
    const { passwordWorks: _, ...unchecked } = converged();
    expect(planPostgres(tenant(), unchecked)).toEqual([]);
  });

  it.each<[string, ObservedPostgres, string[]]>([
    ['a wrong password', converged({ passwordWorks: false }), ['setPassword']],
    ['a lost search_path', converged({}, { searchPath: null }), ['setSearchPath']],
    ['a dropped schema', converged({ schemaOwner: undefined }), ['createSchema']],
    ['a revoked CONNECT', converged({ canConnect: false }), ['grantConnect']],
    ['CREATE on public', converged({ canCreateInPublic: true }), ['revokePublicCreate']],
    ['CONNECT or TEMP for PUBLIC', converged({ publicCanConnect: true }), ['revokePublicDatabase']],
  ])('repairs %s', (_, observed, expected) => {
    expect(types(planPostgres(tenant(), observed))).toEqual(expected);
  });

  it('revokes PUBLIC privileges for a new tenant too', () => {
    const plan = planPostgres(tenant(), {
      canConnect: false,
      canCreateInPublic: true,
      publicCanConnect: true,
    });
    expect(types(plan)).toEqual([
      'createRole',
      'setPassword',
      'setSearchPath',
      'createSchema',
      'grantConnect',
      'revokePublicDatabase',
      'revokePublicCreate',
    ]);
  });

  it('refuses a schema another role owns, whether or not the role exists, and never gives it away', () => {
    expect(() => planPostgres(tenant(), converged({ schemaOwner: 'postgres' }))).toThrow(
      /owned by another role/,
    );
    expect(() =>
      planPostgres(tenant(), { canConnect: false, canCreateInPublic: false, schemaOwner: 'app' }),
    ).toThrow(OwnershipError);
  });

  it('takes back privileges a role must not have, in one ALTER ROLE', () => {
    const plan = planPostgres(
      tenant(),
      converged(
        {},
        {
          superuser: true,
          createDb: true,
          createRole: true,
          replication: true,
          bypassRls: true,
          connectionLimit: -1,
        },
      ),
    );
    expect(plan).toEqual([
      {
        type: 'alterRole',
        changes: [
          'NOSUPERUSER',
          'NOCREATEDB',
          'NOCREATEROLE',
          'NOREPLICATION',
          'NOBYPASSRLS',
          'CONNECTION LIMIT 20',
        ],
      },
    ]);
  });

  it('disables logins and ends sessions when the tenant is retained', () => {
    expect(types(planPostgres(tenant({ login: false }), converged()))).toEqual([
      'alterRole',
      'terminateSessions',
    ]);
  });

  it('re-enables a retained role with a known password', () => {
    expect(
      types(planPostgres(tenant(), converged({ passwordWorks: undefined }, { canLogin: false }))),
    ).toEqual(['alterRole', 'setPassword']);
  });

  it("refuses a role of the same name that is not this tenant's", () => {
    expect(() => planPostgres(tenant(), converged({}, { comment: null }))).toThrow(OwnershipError);
    expect(() => planPostgres(tenant({ database: 'other' }), converged())).toThrow(
      /not created for this instance/,
    );
  });
});

describe('PUBLIC CONNECT on the other databases of the server', () => {
  const open = converged({ openToPublic: ['other_app', 'postgres'] });
  const revoke = { revokePublicConnect: true };

  it('revokes it on each, when the policy says so', () => {
    expect(planPostgres(tenant(), open, revoke)).toEqual([
      { type: 'revokePublicOtherDatabase', database: 'other_app' },
      { type: 'revokePublicOtherDatabase', database: 'postgres' },
    ]);
    expect(databasesLeftOpen(open, revoke)).toEqual([]);
  });

  it('only reports them by default, and changes nothing', () => {
    expect(planPostgres(tenant(), open)).toEqual([]);
    expect(planPostgres(tenant(), open, { revokePublicConnect: false })).toEqual([]);
    expect(databasesLeftOpen(open)).toEqual(['other_app', 'postgres']);
  });

  it('plans nothing once none is open, and reports nothing', () => {
    const closed = converged({ openToPublic: [] });
    expect(planPostgres(tenant(), closed, revoke)).toEqual([]);
    expect(databasesLeftOpen(closed)).toEqual([]);
  });

  it('revokes after the tenant has its own CONNECT on its database', () => {
    const plan = planPostgres(
      tenant(),
      { canConnect: false, canCreateInPublic: false, openToPublic: ['postgres'] },
      revoke,
    );
    expect(types(plan).indexOf('grantConnect')).toBeLessThan(
      types(plan).indexOf('revokePublicOtherDatabase'),
    );
  });

  it('quotes the database name', () => {
    expect(
      statementsFor({ type: 'revokePublicOtherDatabase', database: 'o"db' }, tenant()),
    ).toEqual(['REVOKE CONNECT, TEMPORARY ON DATABASE "o""db" FROM PUBLIC']);
  });

  it('names the databases an admin that is not superuser does not own', () => {
    const admin = {
      superuser: false,
      createRole: true,
      createOnDatabase: true,
      ownsDatabase: true,
    };
    expect(missingCapabilities(admin)).toEqual([]);
    const missing = missingCapabilities({ ...admin, unownedDatabases: ['other_app', 'postgres'] });
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(
      /^ownership of database "other_app", "postgres" \(to revoke CONNECT/,
    );
    expect(missingCapabilities({ ...admin, superuser: true, unownedDatabases: ['x'] })).toEqual([]);
  });
});

describe('planPostgresRemoval', () => {
  it('drops the schema, then the role', () => {
    expect(types(planPostgresRemoval(tenant(), converged()))).toEqual([
      'alterRole',
      'terminateSessions',
      'dropSchema',
      'dropRole',
    ]);
  });

  it('does nothing when both are gone', () => {
    expect(planPostgresRemoval(tenant(), { canConnect: false, canCreateInPublic: false })).toEqual(
      [],
    );
  });

  it('never drops a schema the role does not own', () => {
    expect(
      types(planPostgresRemoval(tenant(), converged({ schemaOwner: 'someone' }))),
    ).not.toContain('dropSchema');
  });
});

describe('statementsFor', () => {
  it('quotes identifiers and literals with the driver', () => {
    const odd = tenant({ role: 'we"ird', schema: 'we"ird', database: "o'db" });
    expect(statementsFor({ type: 'createSchema' }, odd)).toEqual([
      'CREATE SCHEMA "we""ird" AUTHORIZATION "we""ird"',
    ]);
    expect(statementsFor({ type: 'grantConnect' }, odd)).toEqual([
      'GRANT CONNECT ON DATABASE "o\'db" TO "we""ird"',
    ]);
  });

  it('never sends the plain password', () => {
    const [statement] = statementsFor({ type: 'setPassword' }, tenant({ password: 'hunter2' }));
    expect(statement).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(statement).not.toContain('hunter2');
  });
});

describe('managedRoleComment', () => {
  it('rewrites a legacy comment that names its owner, and refuses it for another owner', () => {
    const owned = tenant({ owner: 'trading/lh' });
    const observed = converged({}, { comment: legacyRoleComment(owned) });
    expect(types(planPostgres(owned, observed))).toEqual(['setComment']);
    expect(() => planPostgres(tenant({ owner: 'other/lh' }), observed)).toThrow(OwnershipError);
  });

  it('tells owners apart by a digest, so that another owner of the same schema is refused', () => {
    const owned = tenant({ owner: 'trading/lh' });
    expect(managedRoleComment(owned)).toMatch(/owner sha256:[0-9a-f]{24}$/);
    expect(managedRoleComment(owned)).not.toContain('trading/lh');
    const observed = converged({}, { comment: managedRoleComment(owned) });
    expect(planPostgres(owned, observed)).toEqual([]);
    expect(() => planPostgres(tenant({ owner: 'other/lh' }), observed)).toThrow(OwnershipError);
  });
});
