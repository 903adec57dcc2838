import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.ts';
import {
  postgresConnection,
  postgresTls,
  postgresTlsParameters,
  redisTls,
  redisTlsOptions,
  tlsOptions,
} from '../src/store-tls.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const dir = mkdtempSync(join(tmpdir(), 'tse-store-tls-'));
const caFile = join(dir, 'ca.crt');
writeFileSync(caFile, CA);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pg = (query: string) => `postgres://admin:S3cret@db:5432/app${query}`;

describe('postgresTls', () => {
  it.each([
    ['', 'disable'],
    ['?sslmode=disable', 'disable'],
    ['?sslmode=require', 'require'],
    ['?sslmode=no-verify', 'require'],
    ['?sslmode=verify-full', 'verify-full'],
  ])('reads %s as %s', (query, mode) => {
    expect(postgresTls(pg(query), 'url')).toEqual({ mode });
  });

  it('takes the CA from sslrootcert, or from the bundle given beside the URL', () => {
    expect(postgresTls(pg(`?sslmode=verify-ca&sslrootcert=${caFile}`), 'url')).toEqual({
      mode: 'verify-ca',
      ca: CA,
    });
    expect(postgresTls(pg('?sslmode=verify-full'), 'url', CA)).toEqual({
      mode: 'verify-full',
      ca: CA,
    });
  });

  it.each([
    ['?sslmode=prefer', 'url sslmode', /prefer and allow may fall back to plaintext/],
    ['?sslmode=allow', 'url sslmode', /fall back to plaintext/],
    ['?sslmode=verify-ca', 'url sslmode', /verify-ca needs the CA/],
    [`?sslrootcert=${caFile}`, 'url sslmode', /a CA is given, so TLS must be on/],
    ['?sslmode=require&sslcert=/c.crt', 'url sslcert', /client certificates are not supported/],
    [
      '?sslmode=verify-full&sslrootcert=/nowhere.crt',
      'url sslrootcert',
      /readable PEM file \(ENOENT\)/,
    ],
  ])('refuses %s naming the field and the rule', (query, field, rule) => {
    let caught: unknown;
    try {
      postgresTls(pg(query), 'url');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe(field);
    expect((caught as Error).message).toMatch(rule);
    expect((caught as Error).message).not.toContain('S3cret');
  });

  it('refuses a CA that is not PEM, without echoing it', () => {
    expect(() => postgresTls(pg('?sslmode=verify-full'), 'url', 'not a certificate')).toThrow(
      /url CA "17 bytes" is invalid: must be a PEM bundle/,
    );
  });
});

describe('redisTls', () => {
  it('is TLS verified for the host with rediss://, plaintext with redis://', () => {
    expect(redisTls('rediss://a:b@cache:6380', 'url')).toEqual({ mode: 'verify-full' });
    expect(redisTls('rediss://a:b@cache:6380', 'url', CA)).toEqual({ mode: 'verify-full', ca: CA });
    expect(redisTls('redis://a:b@cache:6379', 'url')).toEqual({ mode: 'disable' });
  });

  it('refuses a CA for a plaintext URL', () => {
    expect(() => redisTls('redis://a:b@cache:6379', 'url', CA)).toThrow(/use a rediss:\/\/ URL/);
  });
});

describe('tlsOptions', () => {
  it('verifies as libpq does for each mode', () => {
    expect(tlsOptions({ mode: 'disable' })).toBe(false);
    expect(tlsOptions({ mode: 'require' })).toEqual({ rejectUnauthorized: false });
    // require with a CA verifies the chain, not the host (libpq)
    const requireWithCa = tlsOptions({ mode: 'require', ca: CA }) as ConnectionOptions;
    expect(requireWithCa).toMatchObject({ ca: CA });
    expect(requireWithCa.rejectUnauthorized).toBe(undefined);
    expect(requireWithCa.checkServerIdentity?.('db', {} as never)).toBe(undefined);
    expect(tlsOptions({ mode: 'verify-ca', ca: CA })).toMatchObject({ ca: CA });
    expect(tlsOptions({ mode: 'verify-full', ca: CA })).toEqual({ ca: CA });
    expect(tlsOptions({ mode: 'verify-full' })).toEqual({});
  });

  it('gives ioredis no tls option for plaintext, since any tls option turns TLS on', () => {
    expect(redisTlsOptions({ mode: 'disable' })).toEqual({});
    expect(redisTlsOptions({ mode: 'verify-full', ca: CA })).toEqual({ tls: { ca: CA } });
  });
});

describe('postgresConnection', () => {
  it('takes the TLS parameters out of the URL and applies them itself', () => {
    const connection = postgresConnection(
      pg(`?sslmode=verify-full&sslrootcert=${caFile}&application_name=x`),
    );
    expect(connection.ssl).toEqual({ ca: CA });
    expect(new URL(connection.connectionString).search).toBe('?application_name=x');
  });
});

describe('postgresTlsParameters', () => {
  it('carries the mode, and the CA as a file, to a libpq URL', () => {
    expect(postgresTlsParameters({ mode: 'disable' }, '/ca')).toEqual({});
    expect(postgresTlsParameters({ mode: 'require' }, '/ca')).toEqual({ sslmode: 'require' });
    expect(postgresTlsParameters({ mode: 'verify-full', ca: CA }, '/ca')).toEqual({
      sslmode: 'verify-full',
      sslrootcert: '/ca',
    });
  });
});

describe('URL parameters that would override TLS or the host', () => {
  it.each([
    ['postgres', pg('?sslmode=verify-full&ssl=0'), 'ssl'],
    ['postgres', pg('?sslmode=verify-full&host=/tmp'), 'host'],
    ['postgres', pg('?sslmode=verify-full&password=S3cret'), 'password'],
    ['redis', 'rediss://a:S3cret@cache:6380?tls=', 'tls'],
    ['redis', 'rediss://a:S3cret@cache:6380?path=/x.sock', 'path'],
  ])('are refused in a %s URL: %s', (store, url, name) => {
    let caught: unknown;
    try {
      if (store === 'postgres') postgresTls(url, 'url');
      else redisTls(url, 'url');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe('url parameter');
    expect((caught as ValidationError).value).toBe(name);
    expect((caught as Error).message).not.toContain('S3cret');
  });

  it('are allowed when they only name the application or a timeout', () => {
    expect(postgresTls(pg('?sslmode=require&application_name=x&connect_timeout=5'), 'url')).toEqual(
      { mode: 'require' },
    );
  });
});
