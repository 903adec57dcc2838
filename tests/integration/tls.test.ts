import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkPostgresLogin,
  deriveIdentity,
  generatePassword,
  PostgresProvisioner,
  postgresTenant,
} from '@tse/adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../cluster/pki.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';

// A PostgreSQL that accepts TLS only, with certificates made here: whatever
// the admin URL says about TLS must reach every connection the operator makes.
const dir = mkdtempSync(join(tmpdir(), 'tse-tls-'));
let server: StoreServer;
let adminUrl: string;

beforeAll(async () => {
  const pki = createPki(dir);
  const binaries = findPostgresBinaries();
  if (!binaries) throw new Error('no PostgreSQL server binaries: apt-get install postgresql');
  server = await startLocalPostgres(binaries, {
    tls: {
      cert: readFileSync(pki.serving.cert, 'utf8'),
      key: readFileSync(pki.serving.key, 'utf8'),
    },
  });
  const url = new URL(server.url);
  url.searchParams.set('sslmode', 'verify-full');
  url.searchParams.set('sslrootcert', join(dir, 'ca.crt'));
  adminUrl = url.toString();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a PostgreSQL that accepts TLS only', () => {
  it('is provisioned, and the tenant login check goes over TLS with the admin URL CA', async () => {
    const provisioner = new PostgresProvisioner(adminUrl);
    try {
      const tenant = postgresTenant(deriveIdentity({ instanceName: 'tls-system-engine-A' }), {
        password: generatePassword(),
        database: 'postgres',
        owner: 'tls/a',
      });
      await provisioner.ensure(tenant);
      expect(await checkPostgresLogin(provisioner.pool.options, tenant)).toEqual({ ok: true });
    } finally {
      await provisioner.close();
    }
  });

  it('refuses a server certificate the admin URL CA did not sign', async () => {
    const other = mkdtempSync(join(tmpdir(), 'tse-tls-other-'));
    try {
      createPki(other);
      const url = new URL(adminUrl);
      url.searchParams.set('sslrootcert', join(other, 'ca.crt'));
      const provisioner = new PostgresProvisioner(url.toString());
      await expect(provisioner.database()).rejects.toThrow(/certificate|self.signed|unable/i);
      await provisioner.close();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
